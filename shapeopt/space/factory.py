"""The design space of a case on its mesh's bodies: one body or several (`design_space`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shapeopt.cases import Case
from shapeopt.geometry.discrete_body import DiscreteBody
from shapeopt.space.base import DesignSpace
from shapeopt.space.bodies import BodiesDesignSpace
from shapeopt.space.radial import RadialDesignSpace


def design_space(
    case: Case,
    bodies: Sequence[DiscreteBody],
    max_body_radii: Sequence[float],
    reach_limits: Sequence[np.ndarray] | None = None,
) -> DesignSpace:
    """The case's design space on the discrete boundaries `bodies` of its mesh, one per body in the order
    of the case's centres, each body reaching at most its `max_body_radii` from its centre (its mesh
    map's, in the case's length unit), or, on a mesh generated for another shape, its `reach_limits`
    (2048,) direction by direction (`space.radial.REACH_ANGLES`): a `RadialDesignSpace` for one body, a
    `BodiesDesignSpace` for several."""
    if len(bodies) != len(max_body_radii):
        raise ValueError(f"{len(bodies)} bodies but {len(max_body_radii)} map radii")
    limits = list(reach_limits) if reach_limits is not None else [None] * len(bodies)
    if len(bodies) == 1:
        return RadialDesignSpace.from_case(case, bodies[0], max_body_radii[0], reach_limits=limits[0])
    return BodiesDesignSpace.from_case(case, list(bodies), list(max_body_radii), limits)
