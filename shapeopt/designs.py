"""The designs a case describes: its bodies' parametrisation about the flow's reference circles, the
parameters' bounds and spec (as stored with datasets and surrogates), whether the objective is
mirror-symmetric, and the identity of a dataset sample (the case's settings that change its value)."""

from __future__ import annotations

import dataclasses
from typing import Any

from shapeopt.cases import Case, Domain, Objective
from shapeopt.geometry.bodies import BodyShapes
from shapeopt.geometry.shapes import RadialShape
from surrogates.spec import ParameterSpec


def body_shapes(case: Case) -> list[RadialShape]:
    """One `RadialShape` per body of the case (`body_shape` joins several into one vector), about the
    reference circles of its flow configuration."""
    flow = case.domain.flow
    return [
        RadialShape(
            kind=case.shape.parametrisation,
            modes=case.shape.modes,
            r0=flow.body_radius,
            center=center,
            stretch=case.shape.knot_stretch,
            revolution=flow.revolution,
        )
        for center in case.domain.centres
    ]


def body_shape(case: Case) -> RadialShape | BodyShapes:
    """The case's parametrisation about the reference circle of its flow configuration (the free stream's
    of diameter 1, the DFG cylinder, the sphere's profile); several bodies: their shapes joined into one
    vector (`BodyShapes`)."""
    shapes = body_shapes(case)
    return shapes[0] if len(shapes) == 1 else BodyShapes(tuple(shapes))


def mirror_symmetric(case: Case) -> bool:
    """Whether the objective is the same for a design and its mirror image about y = 0 (`shape.mirror()`):
    in a mirror-symmetric box (`FlowConfiguration.mirror_box`) with no lift in the objective, when the
    bodies mirror onto bodies and the one body of the objective onto itself."""
    if not case.domain.flow.mirror_box or case.objective.lift_weight:
        return False
    centers = [(x, -y) for x, y in case.domain.bodies]
    if sorted(centers) != sorted(case.domain.bodies):
        return False
    return case.objective.body == 0 or case.domain.bodies[case.objective.body - 1][1] == 0.0


def parameter_bounds(case: Case) -> list[tuple[float, float]]:
    """Box bounds per parameter: ±bound, divided by k for Fourier mode k (smooth shapes)."""
    return [(-b, b) for b in case.shape.bound * body_shape(case).scales()]


def parameter_spec(case: Case) -> ParameterSpec:
    """The spec of the case's designs, as stored with its datasets and surrogates."""
    shape = body_shape(case)
    return ParameterSpec(
        kind=shape.kind,
        modes=shape.modes,
        names=tuple(shape.names()),
        r0=shape.r0,
        center=shape.center,
        stretch=shape.stretch,
        bounds=tuple(parameter_bounds(case)),
        area_ratio=case.constraints.area_ratio,
        fix_centroid=case.constraints.fix_centroid,
        min_thickness=case.constraints.min_thickness,
    )


def sample_identity(case: Case) -> dict[str, Any]:
    """Every setting of the case that changes the value of a dataset sample (s, Re) → (C_D, ..., w):
    mesh level and box, solver tolerances and continuation, the morph's quality guard, the parameter
    spec and the Re range. Flat keys such as `solver.rtol`, for a dataset to refuse a mismatch by name."""
    identity: dict[str, Any] = {"level": case.level, "shape.min_quality": case.shape.min_quality}
    identity |= {f"domain.{k}": v for k, v in dataclasses.asdict(case.domain).items() if k != "bodies"}
    if case.domain.bodies != Domain.bodies:  # several bodies (the one at the origin: as before there were)
        identity["domain.bodies"] = [list(c) for c in case.domain.bodies]
    identity |= {f"solver.{k}": v for k, v in dataclasses.asdict(case.solver).items()}
    identity["re_range"] = list(case.re_bounds)
    identity["spec"] = parameter_spec(case).to_dict()
    if case.objective != Objective():  # a sample's C_D is the objective's value (operating range: only
        identity["objective"] = (
            case.objective.to_dict()
        )  # where given, so identities before it read the same)
    return identity
