"""The reduced functional `J(s) = C_D(w(s), s)` that every optimizer sees (as pyadjoint's ReducedFunctional).

`J(s)` is the FEM drag at one Reynolds number, `J.gradient(s)` its adjoint gradient (m,); `J.bounds` and
`J.constraints` (area, centroid: equalities g(s) = 0 with their Jacobian) describe the admissible set in
the form SciPy's SLSQP takes. The FEM-adjoint optimizer minimises `J` itself; the trust region minimises
surrogate models under the same constraints and verifies with `J`.
"""

from __future__ import annotations

import numpy as np

from shapeopt.errors import ShapeError, SolverError
from shapeopt.fem.problem import DragProblem, Evaluation
from shapeopt.geometry.outlines import extent, tip_angles

ACTIVE_BOUND_TOLERANCE = 1e-9  # a parameter this close to its bound counts as on it
# A trial shape that fails with these is refused: the optimizer shortens its step (the mesh cannot follow
# the shape, or Newton does not converge there even with continuation).
REFUSED = (ShapeError, SolverError)


class ReducedFunctional:
    """C_D(s) by FEM + adjoint at Reynolds number `re` (default: the case's), with the shape constraints."""

    def __init__(self, problem: DragProblem, re: float | None = None):
        self.problem = problem
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

    @property
    def bounds(self) -> list[tuple[float, float]]:
        """Box bounds per parameter: (m,) pairs (low, high)."""
        return self.problem.bounds()

    def bounds_within(self, center: np.ndarray, radius: float) -> list[tuple[float, float]]:
        """The box bounds intersected with the ∞-norm ball of `radius` about `center`."""
        box = np.array(self.bounds)
        low, high = np.maximum(box[:, 0], center - radius), np.minimum(box[:, 1], center + radius)
        return list(zip(low.tolist(), high.tolist(), strict=True))

    @property
    def constraints(self) -> list[dict]:
        """Equalities g(s) = 0 (area ratio, centroid) and inequalities h(s) ≥ 0 (thickness, when the case
        asks for it) with their Jacobians, as SLSQP takes them."""
        problem = self.problem
        constraints = [
            {
                "type": "eq",
                "fun": lambda s: problem.constraints(s)[0],
                "jac": lambda s: problem.constraints(s)[1],
            }
        ]
        if problem.case.constraints.min_thickness > 0:
            constraints.append(
                {
                    "type": "ineq",
                    "fun": lambda s: problem.thickness(s)[0],
                    "jac": lambda s: problem.thickness(s)[1],
                }
            )
        return constraints

    def violation(self, s: np.ndarray) -> float:
        """max(|g(s)|, −h(s)): how far `s` is from meeting the constraints."""
        values, _ = self.problem.constraints(s)
        thickness, _ = self.problem.thickness(s)
        return float(max(np.max(np.abs(values)), np.max(-thickness, initial=0.0)))

    def active_thickness(self, s: np.ndarray) -> np.ndarray:
        """Indices of the thickness inequalities that hold with equality (to `ACTIVE_BOUND_TOLERANCE`)."""
        return np.flatnonzero(self.problem.thickness(s)[0] <= ACTIVE_BOUND_TOLERANCE)

    def active_bounds(self, s: np.ndarray) -> np.ndarray:
        """Indices of the parameters on their bound."""
        box = np.array(self.bounds)
        on_bound = np.minimum(np.abs(s - box[:, 0]), np.abs(box[:, 1] - s)) <= ACTIVE_BOUND_TOLERANCE
        return np.flatnonzero(on_bound)

    def kkt_residual(self, s: np.ndarray, gradient: np.ndarray) -> float:
        """‖∇C_D − Aᵀλ − Hᵀμ − ν‖∞ with least-squares multipliers of the equalities, the active thickness
        inequalities and the active bounds; a multiplier of the wrong sign counts as residual."""
        _, jacobian = self.problem.constraints(s)
        _, thickness = self.problem.thickness(s)
        touching = self.active_thickness(s)
        active = self.active_bounds(s)
        rows = [jacobian, thickness[touching]] + [np.eye(self.size)[i][None, :] for i in active]
        matrix = np.vstack(rows).T
        multipliers, *_ = np.linalg.lstsq(matrix, gradient, rcond=None)
        residual = np.abs(gradient - matrix @ multipliers)
        wrong = 0.0
        # ∇C = μ ∇h with μ ≥ 0 for h ≥ 0 (the constraint holds the shape back); μ < 0 means release it.
        first = jacobian.shape[0]
        for k in range(first, first + len(touching)):
            wrong = max(wrong, -multipliers[k])
        # At an upper bound KKT needs ∂C/∂s_i ≤ 0, at a lower bound ≥ 0.
        box = np.array(self.bounds)
        for k, i in enumerate(active, start=first + len(touching)):
            at_upper = abs(box[i, 1] - s[i]) <= abs(s[i] - box[i, 0])
            if multipliers[k] * (1.0 if at_upper else -1.0) > 0:
                residual[i] = max(residual[i], abs(multipliers[k]))
        return float(max(np.max(residual), wrong))

    def project(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Designs (b, m) moved onto g = 0 through their dependent parameters, and the mask (b,) of those
        that converged inside the bounds (`DragProblem.project`)."""
        return self.problem.project(s)

    def record(self, evaluation: Evaluation) -> dict:
        """A shape with its FEM coefficients, area, centroid, extent along (length) and across (height)
        the flow in D, tip angles in degrees (`outlines.tip_angles`) and the parameters on their bounds:
        what `shape.json` holds."""
        problem = self.problem
        area, centroid, _, _ = problem.morph.body.area_centroid(evaluation.s)
        shape = problem.shape
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
            "area_ratio": area / problem.reference_area,
            "centroid": centroid.tolist(),
            "length": length,
            "height": height,
            "front_angle": front,
            "rear_angle": rear,
            "active_bounds": [shape.names()[i] for i in self.active_bounds(evaluation.s)],
            "cd": evaluation.cd,
            "cl": evaluation.cl,
            "mesh_quality": evaluation.quality,
            "re": evaluation.re,
            "level": problem.case.level,
            "mesh_sha256": problem.flow_mesh.sha256,
        }
