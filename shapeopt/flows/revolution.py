"""A body of revolution about the x axis in uniform flow: the meridional half-plane r = y ≥ 0, in D.

The sphere of diameter 1 at the origin is the reference body; the weak form is weighted by r and the
axis r = 0 bounds the domain below (`shapeopt.fem.flow`). Case files name it `axisymmetric`.
"""

from __future__ import annotations

import numpy as np

from shapeopt.flows.base import Box, Centres, DomainSizes, FlowConfiguration
from shapeopt.flows.freestream import FREESTREAM_MAP_RADIUS, FREESTREAM_SIZES


class RevolutionFlow(FlowConfiguration):
    """The body of revolution in a uniform stream: inlet, outlet, an outer wall moving with the stream."""

    kind = "axisymmetric"
    length_unit = "D"
    frame = (
        "D (the meridional profile of the body of revolution: x along the axis, y the distance "
        "from it; the reference sphere has diameter 1, centre at the origin)"
    )
    body_radius = 0.5
    reference_speed = 1.0
    mesh_sizes = FREESTREAM_SIZES
    revolution = True

    def box(self, domain: DomainSizes) -> Box:
        return (-domain.upstream, domain.downstream, 0.0, domain.half_width)

    def centres(self, domain: DomainSizes) -> Centres:
        return ((0.0, 0.0),)

    def map_radii(self, domain: DomainSizes) -> list[float]:
        return [FREESTREAM_MAP_RADIUS]

    def coefficient_scales(self, diameter: float) -> tuple[float, float]:
        """The force per radian times 2π over ½ U² times the frontal area π D²/4; no lift."""
        return 2.0 * np.pi / (0.5 * self.reference_speed**2 * np.pi * diameter**2 / 4), 0.0
