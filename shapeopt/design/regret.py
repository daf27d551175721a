"""The worst relative regret over an operating range: min_s max_k J(s, Re_k) / J*_k − 1.

J*_k is Re_k's own optimum (`reference_optima`: the Newton trust region at each Re alone, each started
from the optimum of the Re before it). The minimax is solved in epigraph form,

    min over (s, t) of t   subject to   J(s, Re_k) / J*_k − 1 ≤ t  (k = 1..K)  and the shape constraints,

by SLSQP with the FEM adjoint gradients of the K flows (`MultipointFunctional.points`: one mesh, K
states, K solves and K adjoints per new shape). At its solution several regrets are equal (the active
ones) and a convex combination of their gradients balances the shape constraints; `minimax_kkt` measures
how nearly. The points are the case's (`Objective.quadrature`; for this goal they include the range's
ends), so the worst regret is that over those K Reynolds numbers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import lsq_linear, minimize

from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.design.newton import optimize_newton
from shapeopt.design.results import Iteration, OptimizationResult
from shapeopt.errors import ShapeoptError
from shapeopt.fem.problem import Evaluation

ACTIVE_TOLERANCE = 1e-5  # a regret this close to the worst counts as active in `minimax_kkt`


def reference_optima(J: MultipointFunctional, s0: np.ndarray | None = None) -> list[OptimizationResult]:
    """Each Re_k's own optimum (K results, in increasing Re), by the Newton trust region on the single-Re
    functional at Re_k on J's mesh, started from the optimum at Re_{k−1} (the first from `s0`, default the
    case's shape). Their FEM solves are counted in `J.problem.fem_solves`."""
    results, start = [], s0
    for re in J.res:
        result = optimize_newton(ReducedFunctional(J.problem, re), start)
        results.append(result)
        start = np.asarray(result.final.s)
    return results


def regrets(points: list[Evaluation], reference: np.ndarray) -> np.ndarray:
    """J(s, Re_k) / J*_k − 1 (K,) of the single-Re evaluations `points` against the optima `reference`."""
    return np.array([p.objective for p in points]) / reference - 1.0


def minimax_kkt(J: MultipointFunctional, points: list[Evaluation], reference: np.ndarray) -> float:
    """The first-order residual of the minimax at the shape of `points` (with gradients): the space's KKT
    residual (`DesignSpace.kkt_residual`) of Σ λ_k ∇J_k / J*_k over the active regrets (within
    `ACTIVE_TOLERANCE` of the worst), λ ≥ 0 summing to 1 chosen by least squares to balance the
    constraints' gradients."""
    s = points[0].s
    values = regrets(points, reference)
    active = np.flatnonzero(values >= values.max() - ACTIVE_TOLERANCE)
    gradients = np.array([points[k].gradient / reference[k] for k in active]).T  # (m, a)
    _, jacobian = J.space.constraints(s)
    balance = np.vstack([jacobian, np.eye(J.size)[J.space.active_bounds(s)]]).T  # (m, c)
    a, c = gradients.shape[1], balance.shape[1]
    matrix = np.block([[gradients, -balance], [np.full((1, a), 10.0), np.zeros((1, c))]])
    target = np.zeros(J.size + 1)
    target[-1] = 10.0
    low = np.concatenate([np.zeros(a), np.full(c, -np.inf)])
    solution = lsq_linear(matrix, target, bounds=(low, np.full(a + c, np.inf))).x
    weights = solution[:a] / solution[:a].sum()
    return J.space.kkt_residual(s, gradients @ weights)


class _EpigraphRun:
    """What SLSQP's functions share: J, the reference optima, the logged iterates, refused trials."""

    def __init__(
        self, J: MultipointFunctional, reference: np.ndarray, start: float, progress: Callable | None
    ):
        self.J, self.reference, self.start, self.progress = J, reference, start, progress
        self.history: list[Iteration] = []
        self.refused = 0
        self._last_good: list[Evaluation] | None = None

    def points(self, s: np.ndarray) -> tuple[list[Evaluation], bool]:
        """The K evaluations with gradients at `s` (m,), and False where the shape was refused (then the
        last good ones)."""
        try:
            self._last_good = self.J.points(s, gradient=True)
            return self._last_good, True
        except REFUSED:
            self.refused += 1
            return self._last_good, False

    def regret_gap(self, x: np.ndarray) -> np.ndarray:
        """t − regret_k(s) (K,) ≥ 0; a refused shape reads as regret 1 (100 %) everywhere."""
        points, ok = self.points(x[:-1])
        values = regrets(points, self.reference) if ok else np.ones(len(self.reference))
        return x[-1] - values

    def regret_gap_jacobian(self, x: np.ndarray) -> np.ndarray:
        """d(t − regret_k)/d(s, t): (K, m + 1)."""
        points, _ = self.points(x[:-1])
        rows = np.array([-p.gradient / j for p, j in zip(points, self.reference, strict=True)])
        return np.hstack([rows, np.ones((len(points), 1))])

    def log_iterate(self, x: np.ndarray) -> None:
        """Append the iterate's shape (its worst regret as `cd`) unless it repeats the last or is refused."""
        s = np.asarray(x[:-1], dtype=float)
        if self.history and np.array_equal(self.history[-1].s, s):
            return
        points, ok = self.points(s)
        if not ok:
            return
        combined = self.J.evaluate(s)
        item = Iteration(
            iteration=len(self.history),
            s=s.tolist(),
            cd=float(regrets(points, self.reference).max()),
            cl=combined.lift,
            violation=self.J.space.violation(s),
            gradient_norm=float(np.linalg.norm(combined.gradient)),
            kkt_residual=minimax_kkt(self.J, points, self.reference),
            fem_solves=self.J.problem.fem_solves,
            seconds=time.perf_counter() - self.start,
        )
        self.history.append(item)
        if self.progress is not None:
            self.progress(item)

    def summary_evaluation(self, s: np.ndarray) -> Evaluation:
        """The combined evaluation at `s` with the worst regret as its objective (for `ShapeSummary`)."""
        combined = self.J.evaluate(s)
        worst = float(regrets(self.J.points(s, gradient=True), self.reference).max())
        # the mean's gradients and Hessian are not the worst regret's: left out
        return dataclasses.replace(combined, objective=worst, gradient=None, lift_gradient=None, hessian=None)


def _on_shape(constraint: dict) -> dict:
    """An SLSQP constraint of s (m,) as one of x = (s, t) (m + 1,): its Jacobian gains a zero column."""
    fun, jac = constraint["fun"], constraint["jac"]

    def jacobian(x: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(jac(x[:-1]))
        return np.hstack([rows, np.zeros((rows.shape[0], 1))])

    return {"type": constraint["type"], "fun": lambda x: fun(x[:-1]), "jac": jacobian}


def optimize_worst_regret(
    J: MultipointFunctional,
    reference: np.ndarray,
    s0: np.ndarray | None = None,
    progress: Callable[[Iteration], None] | None = None,
) -> OptimizationResult:
    """Minimise max_k J(s, Re_k) / J*_k − 1 over J's Reynolds numbers (`reference` (K,) the J*_k) under
    the shape constraints by SLSQP on the epigraph form, from `s0` (m,) (default: the case's shape, made
    feasible). The result's objective values are worst regrets; `progress` gets each `Iteration` (its
    `cd` the worst regret, `kkt_residual` that of `minimax_kkt`)."""
    start = time.perf_counter()
    problem, space, size = J.problem, J.space, J.size
    reference = np.asarray(reference, dtype=float)
    s0, _ = space.feasible_start(np.zeros(size) if s0 is None else s0)
    run = _EpigraphRun(J, reference, start, progress)
    x0 = np.append(s0, regrets(J.points(s0, gradient=True), reference).max())
    run.log_iterate(x0)
    initial = run.summary_evaluation(s0)
    shape_constraints = [_on_shape(constraint) for constraint in space.scipy_constraints()]
    settings = problem.case.optimize
    try:
        outcome = minimize(
            lambda x: x[-1],
            x0,
            jac=lambda x: np.eye(size + 1)[-1],
            method="SLSQP",
            bounds=[*map(tuple, space.bounds), (None, None)],
            constraints=[
                {"type": "ineq", "fun": run.regret_gap, "jac": run.regret_gap_jacobian},
                *shape_constraints,
            ],
            callback=run.log_iterate,
            options={"maxiter": settings.max_iterations, "ftol": settings.tolerance},
        )
    except ShapeoptError as exc:
        raise type(exc)(
            f"{exc} (during the worst-regret optimization, after {len(run.history)} iterations)"
        ) from None
    s = np.asarray(outcome.x[:-1], dtype=float)
    points, ok = run.points(s)
    if not ok:  # the mesh cannot follow SLSQP's last point: the last logged iterate
        s = np.asarray(run.history[-1].s)
        points, _ = run.points(s)
    run.log_iterate(np.append(s, 0.0))
    final = run.summary_evaluation(s)
    kkt = minimax_kkt(J, points, reference)
    return OptimizationResult(
        method="worst-regret",
        initial=J.shape_summary(initial),
        final=J.shape_summary(final),
        history=run.history,
        message=f"SLSQP on the epigraph form: {outcome.message} (minimax KKT residual {kkt:.1e})",
        converged=bool(outcome.success) and ok,
        refused=run.refused,
        fem_solves=problem.fem_solves,
        adjoint_solves=problem.adjoint_solves,
        hessians=problem.hessians,
        seconds=time.perf_counter() - start,
        final_state=problem.state(),
    )
