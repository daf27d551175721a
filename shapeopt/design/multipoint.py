"""The multipoint reduced functional: the case's objective averaged over an operating range of Re.

J(s) = Σ_k w_k J(s, Re_k) with weights w_k summing to 1 (`cases.Objective.quadrature`), by K flows on
one morphed mesh: one mesh map, K states. Its value, adjoint gradient (m,) and exact Hessian (m, m) are
the weighted sums of the single-Re ones (`DragProblem.evaluate`). Each Re keeps its last state and starts
its next solve from it (on the first evaluation, from its neighbour in Re just solved), so an evaluation
costs K FEM solves (`DragProblem.fem_solves` counts each). The optimizers see it as they see
`ReducedFunctional`.
"""

from __future__ import annotations

import numpy as np

from shapeopt.design.functional import ReducedFunctional
from shapeopt.fem.forces import Coefficients
from shapeopt.fem.problem import DragProblem, Evaluation


class MultipointFunctional(ReducedFunctional):
    """The weighted mean J(s) = Σ_k w_k J(s, Re_k) of the case's objective over the Reynolds numbers `res`
    (K,) with weights `weights` (K,), by default the case's operating range (`Objective.quadrature`).
    `re` is the case's Reynolds number (that of `solve`); the combined `Evaluation` carries it."""

    def __init__(
        self, problem: DragProblem, res: np.ndarray | None = None, weights: np.ndarray | None = None
    ):
        super().__init__(problem)
        if res is None:
            res, weights = problem.case.objective.quadrature()
        weights = np.ones(len(res)) if weights is None else np.asarray(weights, dtype=float)
        self.res = tuple(float(re) for re in res)
        self.weights = weights / weights.sum()
        self._states: list[np.ndarray | None] = [None] * len(self.res)
        self._points: list[Evaluation] = []  # of the last shape, one per Re
        self._combined: Evaluation | None = None

    def points(self, s: np.ndarray, gradient: bool = False) -> list[Evaluation]:
        """The single-Re evaluations at `s`, one per Re of `res` (K FEM solves, with adjoints if
        `gradient`; none where the last call was at `s` and had what is asked)."""
        s = np.asarray(s, dtype=float)
        last = self._points
        if last and np.array_equal(last[0].s, s) and (not gradient or last[-1].gradient is not None):
            return last
        self._combined = None
        evaluations = []
        for k, re in enumerate(self.res):
            neighbour = self._states[k - 1] if k > 0 else None
            self.problem.start_from(self._states[k] if self._states[k] is not None else neighbour)
            evaluations.append(self.problem.evaluate(s, gradient=gradient, re=re))
            self._states[k] = self.problem.state()
        self._points = evaluations
        return evaluations

    def evaluate(self, s: np.ndarray) -> Evaluation:
        """The weighted mean objective and lift at `s` with their adjoint gradients (K solves and adjoints,
        cached per shape)."""
        points = self.points(s, gradient=True)
        if self._combined is None or self._combined.gradient is None:
            self._combined = self._combine(points)
        return self._combined

    def __call__(self, s: np.ndarray) -> float:
        """The weighted mean objective at `s` (K FEM solves; no adjoint)."""
        return self.combined(s).objective

    def combined(self, s: np.ndarray) -> Evaluation:
        """The weighted mean objective and lift at `s` as one `Evaluation`, without gradients (K FEM
        solves, none where the last call was at `s`)."""
        return self._combine(self.points(s))

    def hessian(self, s: np.ndarray) -> np.ndarray:
        """Σ_k w_k d²J(s, Re_k)/ds² (m, m). The last Re's Hessian uses its cached solve; each other Re is
        solved again from its state at `s` (a Newton step or none: one more FEM solve each), as the
        Hessian's tangent solves need that Re's factorisation."""
        combined = self.evaluate(s)
        if combined.hessian is None:
            total = np.zeros((self.size, self.size))
            for k in reversed(range(len(self.res))):
                total += self.weights[k] * self._resolved(combined.s, k).hessian
            combined.hessian = total
        return combined.hessian

    def per_re(self, s: np.ndarray) -> list[dict[str, float]]:
        """Each Re's share of J at `s`: rows {re, weight, cd (that Re's objective J), cl}."""
        return [
            {"re": re, "weight": float(w), "cd": point.objective, "cl": point.lift}
            for re, w, point in zip(self.res, self.weights, self.points(s), strict=True)
        ]

    def _resolved(self, s: np.ndarray, k: int) -> Evaluation:
        """Re_k's evaluation at `s` with its Hessian, on a factorisation of that Re's Jacobian: solved again
        from its state unless it is the problem's last solve; from Stokes where Newton took no step."""
        problem, re = self.problem, self.res[k]
        problem.start_from(self._states[k])
        if k < len(self.res) - 1:
            problem.move_to(s)  # a solve, not the cached evaluation of another Re
        problem.evaluate(s, re=re)
        if problem.newton.iterations == 0:  # no factorisation at this Re
            problem.start_from(None)
            problem.move_to(s)
        return problem.evaluate(s, re=re, hessian=True)

    def _combine(self, points: list[Evaluation]) -> Evaluation:
        """The weighted sums of `points`' objective, lift, gradients and per-body coefficients."""
        w = self.weights
        gradients = points[0].gradient is not None
        bodies = None
        if points[0].bodies is not None:
            bodies = [
                Coefficients(
                    cd=float(sum(wk * p.bodies[i].cd for wk, p in zip(w, points, strict=True))),
                    cl=float(sum(wk * p.bodies[i].cl for wk, p in zip(w, points, strict=True))),
                )
                for i in range(len(points[0].bodies))
            ]
        return Evaluation(
            s=points[0].s.copy(),
            re=self.re,
            objective=float(sum(wk * p.objective for wk, p in zip(w, points, strict=True))),
            lift=float(sum(wk * p.lift for wk, p in zip(w, points, strict=True))),
            quality=points[0].quality,
            newton_iterations=sum(p.newton_iterations for p in points),
            seconds=sum(p.seconds for p in points),
            gradient=sum(wk * p.gradient for wk, p in zip(w, points, strict=True)) if gradients else None,
            lift_gradient=(
                sum(wk * p.lift_gradient for wk, p in zip(w, points, strict=True)) if gradients else None
            ),
            bodies=bodies,
        )
