"""The reduced functional `J(s) = C_D(w(s), s)` that every optimizer sees (as pyadjoint's ReducedFunctional).

`J(s)` is the FEM drag at one Reynolds number, `J.gradient(s)` its adjoint gradient (m,); `J.bounds` and
`J.constraints` (area, centroid: equalities g(s) = 0 with their Jacobian) describe the admissible set in
the form SciPy's SLSQP takes. The FEM-adjoint optimizer minimises `J` itself; the trust region minimises
surrogate models under the same constraints and verifies with `J`.
"""

from __future__ import annotations

import numpy as np

from shapeopt.fem.problem import DragProblem, Evaluation

ACTIVE_BOUND_TOLERANCE = 1e-9  # a parameter this close to its bound counts as on it


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
        """Equalities g(s) = 0 (area ratio, centroid) with their Jacobian, as SLSQP takes them."""
        return [
            {
                "type": "eq",
                "fun": lambda s: self.problem.constraints(s)[0],
                "jac": lambda s: self.problem.constraints(s)[1],
            }
        ]

    def violation(self, s: np.ndarray) -> float:
        """max |g(s)|: how far `s` is from meeting the equality constraints."""
        values, _ = self.problem.constraints(s)
        return float(np.max(np.abs(values)))

    def active_bounds(self, s: np.ndarray) -> np.ndarray:
        """Indices of the parameters on their bound."""
        box = np.array(self.bounds)
        on_bound = np.minimum(np.abs(s - box[:, 0]), np.abs(box[:, 1] - s)) <= ACTIVE_BOUND_TOLERANCE
        return np.flatnonzero(on_bound)

    def kkt_residual(self, s: np.ndarray, gradient: np.ndarray) -> float:
        """‖∇C_D − Aᵀλ − ν‖∞ with least-squares multipliers of the equalities and active bounds."""
        _, jacobian = self.problem.constraints(s)
        active = self.active_bounds(s)
        rows = [jacobian] + [np.eye(self.size)[i][None, :] for i in active]
        matrix = np.vstack(rows).T
        multipliers, *_ = np.linalg.lstsq(matrix, gradient, rcond=None)
        residual = gradient - matrix @ multipliers
        # At an upper bound KKT needs ∂C/∂s_i ≤ 0 (the bound holds the shape back), at a lower bound ≥ 0;
        # a multiplier of the wrong sign means the bound should be released: count it as residual.
        box = np.array(self.bounds)
        for k, i in enumerate(active, start=jacobian.shape[0]):
            at_upper = abs(box[i, 1] - s[i]) <= abs(s[i] - box[i, 0])
            if multipliers[k] * (1.0 if at_upper else -1.0) > 0:
                residual[i] = max(abs(residual[i]), abs(multipliers[k]))
        return float(np.max(np.abs(residual)))

    def project(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Designs (b, m) moved onto g = 0 through their dependent parameters, and the mask (b,) of those
        that converged inside the bounds (`DragProblem.project`)."""
        return self.problem.project(s)

    def record(self, evaluation: Evaluation) -> dict:
        """A shape with its FEM coefficients, area and centroid (what `shape.json` holds)."""
        problem = self.problem
        area, centroid, _, _ = problem.morph.body.area_centroid(evaluation.s)
        shape = problem.shape
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
            "cd": evaluation.cd,
            "cl": evaluation.cl,
            "mesh_quality": evaluation.quality,
            "re": evaluation.re,
            "level": problem.case.level,
            "mesh_sha256": problem.flow_mesh.sha256,
        }
