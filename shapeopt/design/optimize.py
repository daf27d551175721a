"""The FEM-adjoint drag optimizer: SLSQP on C_D(s) with exact gradients, area/centroid equalities, bounds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize

from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.errors import ShapeoptError


@dataclass
class Iteration:
    """One optimizer iteration: FEM C_D, constraint violation, gradient norms, work so far."""

    iteration: int
    s: list[float]
    cd: float
    cl: float
    violation: float
    gradient_norm: float
    kkt_residual: float
    fem_solves: int
    seconds: float


@dataclass
class OptimizationResult:
    """Initial and final shapes with FEM coefficients, the history, and why the optimizer stopped."""

    method: str
    initial: dict
    final: dict
    history: list[Iteration] = field(default_factory=list)
    message: str = ""
    converged: bool = False
    refused: int = 0
    search: dict = field(default_factory=dict)
    fem_solves: int = 0
    adjoint_solves: int = 0
    seconds: float = 0.0
    refit: dict = field(default_factory=dict)  # `--refit`: dataset, samples appended, test metrics after

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def fem_solves_until(history: list, reached: Callable, max_violation: float = 1e-6) -> int | None:
    """FEM solves spent until the first iterate with `reached(iterate)` true, feasible to max_violation.

    `history` holds `Iteration` or trust-region steps (both carry cd, kkt_residual, violation and the
    cumulative fem_solves); None if no iterate got there.
    """
    for item in history:
        if item.violation <= max_violation and reached(item):
            return item.fem_solves
    return None


def fem_solves_to_within(
    history: list, cd_best: float, relative: float, max_violation: float = 1e-6
) -> int | None:
    """FEM solves spent until an iterate first had C_D ≤ (1 + relative) cd_best (see `fem_solves_until`)."""
    return fem_solves_until(history, lambda item: item.cd <= (1 + relative) * cd_best, max_violation)


def fem_solves_to_kkt(history: list, tolerance: float, max_violation: float = 1e-6) -> int | None:
    """FEM solves spent until an iterate's KKT residual first fell to `tolerance` (see `fem_solves_until`)."""
    return fem_solves_until(history, lambda item: item.kkt_residual <= tolerance, max_violation)


def optimize_adjoint(
    J: ReducedFunctional,
    s0: np.ndarray | None = None,
    progress: Callable[[Iteration], None] | None = None,
) -> OptimizationResult:
    """Minimise the FEM drag `J` under its constraints with SLSQP and adjoint gradients."""
    start = time.perf_counter()
    problem = J.problem
    s0 = np.zeros(J.size) if s0 is None else np.asarray(s0, dtype=float)
    initial = J.evaluate(s0)
    result = OptimizationResult("adjoint", J.record(initial), {})
    settings = problem.case.optimize

    def record(s: np.ndarray) -> None:
        if result.history and np.array_equal(result.history[-1].s, s):
            return
        try:
            evaluation = J.evaluate(s)
        except REFUSED:
            return  # a refused trial shape that SLSQP reports as its iterate; the next one is recorded
        item = Iteration(
            iteration=len(result.history),
            s=s.tolist(),
            cd=evaluation.cd,
            cl=evaluation.cl,
            violation=J.space.violation(s),
            gradient_norm=float(np.linalg.norm(evaluation.dcd)),
            kkt_residual=J.space.kkt_residual(s, evaluation.dcd),
            fem_solves=problem.fem_solves,
            seconds=time.perf_counter() - start,
        )
        result.history.append(item)
        if progress is not None:
            progress(item)

    best = [initial]

    def objective(s: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            evaluation = J.evaluate(s)
        except REFUSED:
            # A trial step the mesh cannot follow: report it as much worse so the line search backs off.
            result.refused += 1
            return 2.0 * best[0].cd, best[0].dcd
        if evaluation.cd < best[0].cd:
            best[0] = evaluation
        return evaluation.cd, evaluation.dcd

    record(s0)
    try:
        outcome = minimize(
            objective,
            s0,
            jac=True,
            method="SLSQP",
            bounds=J.space.bounds,
            constraints=J.space.scipy_constraints(),
            callback=record,
            options={"maxiter": settings.max_iterations, "ftol": settings.tolerance},
        )
    except ShapeoptError as exc:
        raise type(exc)(
            f"{exc} (during adjoint optimization, after {len(result.history)} iterations)"
        ) from None
    try:
        final = J.evaluate(outcome.x)
        record(outcome.x)
        result.message, result.converged = str(outcome.message), bool(outcome.success)
    except REFUSED as exc:
        # SLSQP ended on a shape the mesh cannot follow: the answer is the last iterate that had a mesh.
        final = J.evaluate(np.asarray(result.history[-1].s))
        result.refused += 1
        result.message, result.converged = f"{outcome.message}; its last point was refused ({exc})", False
    result.final = J.record(final)
    result.fem_solves, result.adjoint_solves = problem.fem_solves, problem.adjoint_solves
    result.seconds = time.perf_counter() - start
    return result
