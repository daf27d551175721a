"""The reduced functional `J(s) = C_D(w(s), s)` that every optimizer sees (as pyadjoint's ReducedFunctional).

`J(s)` is the FEM drag at one Reynolds number, `J.gradient(s)` its adjoint gradient (m,); `J.space` is the
design space (`shapeopt.space`: bounds, constraints with Jacobians, projection, KKT residual). The
FEM-adjoint optimizer minimises `J` itself; the trust region minimises surrogate models under the same
constraints and verifies with `J`.
"""

from __future__ import annotations

import numpy as np

from shapeopt.errors import ShapeError, SolverError
from shapeopt.fem.problem import DragProblem, Evaluation
from shapeopt.geometry.outlines import extent, tip_angles

# A trial shape that fails with these is refused: the optimizer shortens its step (the mesh cannot follow
# the shape, or Newton does not converge there even with continuation).
REFUSED = (ShapeError, SolverError)


class ReducedFunctional:
    """C_D(s) by FEM + adjoint at Reynolds number `re` (default: the case's), with the shape constraints."""

    def __init__(self, problem: DragProblem, re: float | None = None):
        self.problem = problem
        self.space = problem.space
        self.re = problem.case.re if re is None else float(re)

    @property
    def size(self) -> int:
        """Number of shape parameters m."""
        return self.problem.size

    def evaluate(self, s: np.ndarray) -> Evaluation:
        """FEM coefficients at `s` with adjoint gradients (one solve and one adjoint, cached per shape)."""
        return self.problem.evaluate(s, gradient=True, re=self.re)

    def __call__(self, s: np.ndarray) -> float:
        """C_D at `s` (one FEM solve; no adjoint)."""
        return self.problem.evaluate(s, re=self.re).cd

    def gradient(self, s: np.ndarray) -> np.ndarray:
        """dC_D/ds at `s`: (m,)."""
        return self.evaluate(s).dcd

    def record(self, evaluation: Evaluation) -> dict:
        """A shape with its FEM coefficients, area, centroid, extent along (length) and across (height)
        the flow in D, tip angles in degrees (`outlines.tip_angles`) and the parameters on their bounds:
        what `shape.json` holds."""
        problem, space = self.problem, self.space
        area, centroid, _, _ = space.body.area_centroid(evaluation.s)
        shape = space.shape
        outline = shape.outline(evaluation.s, 4000)
        length, height = extent(outline)
        front, rear = tip_angles(outline)
        return {
            "parametrisation": shape.kind,
            "modes": shape.modes,
            "r0": shape.r0,
            "center": list(shape.center),
            "names": shape.names(),
            "s": evaluation.s.tolist(),
            "area": area,
            "area_ratio": area / space.reference_area,
            "centroid": centroid.tolist(),
            "length": length,
            "height": height,
            "front_angle": front,
            "rear_angle": rear,
            "active_bounds": [shape.names()[i] for i in space.active_bounds(evaluation.s)],
            "cd": evaluation.cd,
            "cl": evaluation.cl,
            "mesh_quality": evaluation.quality,
            "re": evaluation.re,
            "level": problem.case.level,
            "mesh_sha256": problem.flow_mesh.sha256,
        }
