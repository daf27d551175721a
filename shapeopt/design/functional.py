"""The reduced functional `J(s) = J(w(s), s)` that every optimizer sees (as pyadjoint's ReducedFunctional).

`J(s)` is the case's objective by FEM at one Reynolds number (the total drag C_D unless the case's
`[objective]` names one body's drag or adds a weighted lift), `J.gradient(s)` its adjoint gradient (m,),
`J.hessian(s)` its exact Hessian (m, m); `J.space` is the
design space (`shapeopt.space`: bounds, constraints with Jacobians, projection, KKT residual). The
FEM-adjoint optimizer minimises `J` itself; the trust region minimises surrogate models under the same
constraints and verifies with `J`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from shapeopt.errors import ShapeError, SolverError
from shapeopt.fem.problem import DragProblem, Evaluation
from shapeopt.geometry.bodies import BodyShapes
from shapeopt.geometry.outlines import extent, tip_angles
from shapeopt.geometry.shapes import RadialShape
from shapeopt.space import DesignSpace

# A trial shape that fails with these is refused: the optimizer shortens its step (the mesh cannot follow
# the shape, or Newton does not converge there even with continuation).
REFUSED = (ShapeError, SolverError)

# The keys of `ShapeSummary` fields in shape.json and summary.json, where they differ from the names.
FILE_KEYS = {"objective_value": "cd", "lift": "cl"}


@dataclass(frozen=True)
class ShapeSummary:
    """One shape with its FEM coefficients: what `shape.json` holds (`to_dict`).

    Parametrisation (kind, modes, r0 and centre in D, parameter names, s (m,)); area in D², its ratio to the
    discrete circle's and the centroid (2,) in D; extent along (length) and across (height) the flow in D;
    tip angles in degrees (`outlines.tip_angles`); the parameters on their bounds; how far it is from meeting
    the constraints (`DesignSpace.violation`); the FEM C_D, C_L, mesh
    quality and Re; the mesh level and the reference mesh's hash. With several bodies the geometry fields
    are those of body 1 and the area those of all bodies together; `bodies` holds each body's centre, area
    ratio, centroid, extent, tip angles, C_D and C_L. `objective_value` is the case's objective J, named by
    `objective`, and `lift` the C_L of its bodies; `shape.json` keeps them under the keys `cd` and `cl`.
    """

    parametrisation: str
    modes: int
    r0: float
    center: list[float]
    names: list[str]
    s: list[float]
    area: float
    area_ratio: float
    centroid: list[float]
    length: float
    height: float
    front_angle: float
    rear_angle: float
    active_bounds: list[str]
    violation: float
    objective_value: float
    lift: float
    mesh_quality: float
    re: float
    level: str
    mesh_sha256: str
    objective: str = "C_D"
    bodies: list[dict] | None = None

    def to_dict(self) -> dict:
        """Plain data for JSON, keys in the order above (`objective_value` as `cd`, `lift` as `cl`)."""
        return {FILE_KEYS.get(key, key): value for key, value in asdict(self).items()}


class ReducedFunctional:
    """The objective J(s) by FEM + adjoint at Reynolds number `re` (default: the case's), with the shape
    constraints of `space` (default: the case's)."""

    def __init__(self, problem: DragProblem, re: float | None = None, space: DesignSpace | None = None):
        self.problem = problem
        self._space = space
        self.re = problem.case.re if re is None else float(re)

    @property
    def space(self) -> DesignSpace:
        """The design space given, else the case's on the bodies of the problem's current mesh (it changes
        with a remesh)."""
        return self.problem.space if self._space is None else self._space

    @property
    def size(self) -> int:
        """Number of shape parameters m."""
        return self.problem.size

    def evaluate(self, s: np.ndarray) -> Evaluation:
        """FEM coefficients at `s` with adjoint gradients (one solve and one adjoint, cached per shape)."""
        return self.problem.evaluate(s, gradient=True, re=self.re)

    def __call__(self, s: np.ndarray) -> float:
        """C_D at `s` (one FEM solve; no adjoint)."""
        return self.problem.evaluate(s, re=self.re).objective

    def gradient(self, s: np.ndarray) -> np.ndarray:
        """dC_D/ds at `s`: (m,)."""
        return self.evaluate(s).gradient

    def hessian(self, s: np.ndarray) -> np.ndarray:
        """d²C_D/ds² at `s`: (m, m) (`shapeopt.fem.hessian`; with the solve and adjoint, cached per shape)."""
        return self.problem.evaluate(s, re=self.re, hessian=True).hessian

    def shape_summary(self, evaluation: Evaluation) -> ShapeSummary:
        """The shape of `evaluation` with its FEM coefficients and geometry (`ShapeSummary`)."""
        problem, space = self.problem, self.space
        area, area_ratio, centroid = space.measure(evaluation.s)
        shape = space.shape
        geometry = _body_geometry(shape, evaluation.s)
        length, height, front, rear = (geometry[0][key] for key in ("length", "height", "front", "rear"))
        bodies = None
        if evaluation.bodies is not None:
            measures = space.measure_bodies(evaluation.s)
            bodies = [
                {"center": list(part.center), "area_ratio": ratio, "centroid": middle.tolist()}
                | {key: float(value) for key, value in shape_geometry.items()}
                | {"cd": coefficients.cd, "cl": coefficients.cl}
                for part, (_, ratio, middle), shape_geometry, coefficients in zip(
                    shape.shapes, measures, geometry, evaluation.bodies, strict=True
                )
            ]
        return ShapeSummary(
            parametrisation=shape.kind,
            modes=shape.modes,
            r0=shape.r0,
            center=list(shape.center),
            names=shape.names(),
            s=evaluation.s.tolist(),
            area=area,
            area_ratio=area_ratio,
            centroid=centroid.tolist(),
            length=length,
            height=height,
            front_angle=front,
            rear_angle=rear,
            active_bounds=[shape.names()[i] for i in space.active_bounds(evaluation.s)],
            violation=space.violation(evaluation.s),
            objective_value=evaluation.objective,
            lift=evaluation.lift,
            mesh_quality=evaluation.quality,
            re=evaluation.re,
            level=problem.case.level,
            mesh_sha256=problem.flow_mesh.sha256,
            objective=problem.case.objective.describe(),
            bodies=bodies,
        )


def _body_geometry(shape: RadialShape | BodyShapes, s: np.ndarray) -> list[dict[str, float]]:
    """Per body of `s`: length and height in D, front and rear tip angles in degrees (`outlines`)."""
    parts = zip(shape.shapes, shape.split(s), strict=True) if isinstance(shape, BodyShapes) else [(shape, s)]
    geometry = []
    for part, values in parts:
        outline = part.outline(values, 4000)
        length, height = extent(outline)
        front, rear = tip_angles(outline)
        geometry.append({"length": length, "height": height, "front": front, "rear": rear})
    return geometry
