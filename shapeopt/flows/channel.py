"""The DFG 2D-1 channel (Schäfer & Turek 1996): one body in a parabolic channel flow, lengths in metres."""

from __future__ import annotations

import numpy as np

from shapeopt.flows.base import Box, Centres, DomainSizes, FlowConfiguration, MeshSizes

# Channel length and height, the body's centre and the radius of its reference circle, in m.
DFG_LENGTH, DFG_HEIGHT = 2.2, 0.41
DFG_CENTER, DFG_RADIUS = (0.2, 0.2), 0.05
DFG_UMAX = 0.3  # peak inflow speed; the mean is 2/3 of it
# The mesh map reaches to the inlet and the lower wall, so that neither moves.
DFG_MAP_RADIUS = min(DFG_CENTER[0], DFG_CENTER[1], DFG_HEIGHT - DFG_CENTER[1])


class DFGChannel(FlowConfiguration):
    """The fixed channel: parabolic inflow of peak `DFG_UMAX`, no-slip walls, the body off the axis."""

    kind = "dfg-channel"
    length_unit = "m"
    frame = (
        "m (the DFG channel's frame: inlet at x = 0, lower wall at y = 0; the reference circle "
        "has diameter 0.1 m, centre (0.2, 0.2))"
    )
    body_radius = DFG_RADIUS
    reference_speed = 2.0 / 3.0 * DFG_UMAX
    mesh_sizes = MeshSizes(body=0.005, wake=0.02, far=0.04, growth=0.35, wake_length=1.0)
    fixed_box = True
    pressure_drop = True

    def box(self, domain: DomainSizes) -> Box:
        return (0.0, DFG_LENGTH, 0.0, DFG_HEIGHT)

    def centres(self, domain: DomainSizes) -> Centres:
        return (DFG_CENTER,)

    def map_radii(self, domain: DomainSizes) -> list[float]:
        return [DFG_MAP_RADIUS]

    def picture_window(self, domain: DomainSizes) -> Box:
        """The whole channel."""
        return self.box(domain)

    def inflow(self, x: np.ndarray) -> np.ndarray:
        """The parabolic profile 4 U_max y (H − y) / H² (2, n) at the inlet points x (3, n)."""
        profile = 4.0 * DFG_UMAX * x[1] * (DFG_HEIGHT - x[1]) / DFG_HEIGHT**2
        return np.vstack([profile, np.zeros(x.shape[1])])

    def wall_velocity(self, x: np.ndarray) -> np.ndarray:
        """No slip: (2, n) zeros."""
        return np.zeros((2, x.shape[1]))
