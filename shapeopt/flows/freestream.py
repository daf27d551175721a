"""A free stream: bodies of diameter 1 about their centres in a box of uniform flow, lengths in D."""

from __future__ import annotations

import numpy as np

from shapeopt.flows.base import Box, Centres, DomainSizes, FlowConfiguration, MeshSizes

# How far from the body's centre the mesh moves with it (`geometry.radial_map.RadialMap`); with several
# bodies the map ends `MAP_CLEARANCE` D before the nearest other body's reference circle.
FREESTREAM_MAP_RADIUS = 5.0
MAP_CLEARANCE = 0.25
FREESTREAM_SIZES = MeshSizes(body=0.06, wake=0.25, far=8.0, growth=0.25, wake_length=12.0)


def map_radii_apart(centres: Centres, radius: float) -> list[float]:
    """`FREESTREAM_MAP_RADIUS`, or less with several bodies: each map ends `MAP_CLEARANCE` before the
    nearest other body's reference circle (of `radius`), so that no body moves with another's parameters.
    Where two maps overlap their displacements add, and the morph's quality check refuses a design that
    squeezes the cells between two bodies."""
    points = np.array(centres, dtype=float)
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(distance, np.inf)
    return [min(FREESTREAM_MAP_RADIUS, float(d) - radius - MAP_CLEARANCE) for d in distance.min(axis=1)]


class FreeStream(FlowConfiguration):
    """Bodies in uniform flow (1, 0) between the box's inlet, outlet and two side walls moving with it."""

    kind = "freestream"
    length_unit = "D"
    frame = "D (the reference circle has diameter 1, centre at the origin)"
    body_radius = 0.5
    reference_speed = 1.0
    mesh_sizes = FREESTREAM_SIZES
    several_bodies = True
    mirror_box = True

    def box(self, domain: DomainSizes) -> Box:
        return (-domain.upstream, domain.downstream, -domain.half_width, domain.half_width)

    def centres(self, domain: DomainSizes) -> Centres:
        return tuple(domain.bodies)

    def map_radii(self, domain: DomainSizes) -> list[float]:
        return map_radii_apart(self.centres(domain), self.body_radius)

    def reference_mesh_name(self, domain: DomainSizes, level: str) -> str | None:
        """`freestream-<upstream>x<downstream>x<half_width>-<level>.msh` for the one body at the origin."""
        if tuple(domain.bodies) != ((0.0, 0.0),):
            return None
        return f"freestream-{domain.upstream:g}x{domain.downstream:g}x{domain.half_width:g}-{level}.msh"
