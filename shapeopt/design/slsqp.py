"""The FEM-adjoint drag optimizer: SLSQP on C_D(s) with exact gradients, area/centroid equalities, bounds.

SLSQP's constraint functions are those of the mesh it starts on, so it does not remesh while it runs. Where
it ends unconverged after trial shapes the mesh could not follow (its cells' quality, the map's reach),
the mesh is generated for its last iterate (`trust_region.remesh_iterate`) and SLSQP starts again from
there, at most `MAX_RESTARTS` times.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.design.results import Iteration, OptimizationResult
from shapeopt.design.trust_region import evaluate_start, mesh_refusal, remesh_iterate
from shapeopt.errors import ShapeoptError
from shapeopt.fem.problem import Evaluation

# Mesh refusals in a row after which SLSQP stops to restart on a mesh generated for its last iterate (a
# refused shape's stand-in value, twice the best, leaves SLSQP's line search probing at random).
REFUSALS_BEFORE_RESTART = 3


class _MeshCannotFollowError(Exception):
    """SLSQP's trial shapes keep crushing the mesh's cells or reaching past its map."""


class _SlsqpRun:
    """What SLSQP's objective and callback share: the logged iterates, the refused trial shapes and the
    best evaluation so far. Times are seconds since `start` (`time.perf_counter`)."""

    def __init__(
        self, J: ReducedFunctional, initial: Evaluation, start: float, progress: Callable | None = None
    ):
        self.J, self.best, self.start, self.progress = J, initial, start, progress
        self.history: list[Iteration] = []
        self.refused = 0
        self.mesh_refusal: str | None = None  # why the last refused shape was, where a new mesh may hold it
        self.refusals_in_a_row = 0  # mesh refusals since the last shape solved
        self.restartable = not J.problem.case.domain.flow.revolution  # on a mesh generated for an iterate

    def objective(self, s: np.ndarray) -> tuple[float, np.ndarray]:
        """C_D and dC_D/ds (m,) at `s`; a refused shape reports twice the best C_D so the line search backs
        off."""
        try:
            evaluation = self.J.evaluate(s)
        except REFUSED as exc:
            self.refused += 1
            reason = mesh_refusal(exc)
            self.mesh_refusal = reason or self.mesh_refusal
            self.refusals_in_a_row = self.refusals_in_a_row + 1 if reason else 0
            if self.restartable and self.refusals_in_a_row >= REFUSALS_BEFORE_RESTART:
                raise _MeshCannotFollowError from None
            return 2.0 * self.best.objective, self.best.gradient
        self.refusals_in_a_row = 0
        if evaluation.objective < self.best.objective:
            self.best = evaluation
        return evaluation.objective, evaluation.gradient

    def log_iterate(self, s: np.ndarray) -> None:
        """Append the iterate `s` (m,) to the history and pass it to `progress`, unless it repeats the last
        one or is refused (SLSQP may report a refused trial as its iterate; the next one is logged)."""
        if self.history and np.array_equal(self.history[-1].s, s):
            return
        try:
            evaluation = self.J.evaluate(s)
        except REFUSED:
            return
        item = Iteration(
            iteration=len(self.history),
            s=s.tolist(),
            cd=evaluation.objective,
            cl=evaluation.lift,
            violation=self.J.space.violation(s),
            gradient_norm=float(np.linalg.norm(evaluation.gradient)),
            kkt_residual=self.J.space.kkt_residual(s, evaluation.gradient),
            fem_solves=self.J.problem.fem_solves,
            seconds=time.perf_counter() - self.start,
        )
        self.history.append(item)
        if self.progress is not None:
            self.progress(item)

    def final(self, outcome: OptimizeResult) -> tuple[Evaluation, str, bool]:
        """The final evaluation, message and convergence of SLSQP's `outcome`: its point, or, if the mesh
        cannot follow that shape, the last logged iterate."""
        try:
            final = self.J.evaluate(outcome.x)
            self.log_iterate(outcome.x)
            return final, str(outcome.message), bool(outcome.success)
        except REFUSED as exc:
            self.refused += 1
            final = self.J.evaluate(np.asarray(self.history[-1].s))
            return final, f"{outcome.message}; its last point was refused ({exc})", False


MAX_RESTARTS = 5  # SLSQP runs again from its last iterate on a generated mesh at most this often


def optimize_slsqp(
    J: ReducedFunctional,
    s0: np.ndarray | None = None,
    progress: Callable[[Iteration], None] | None = None,
) -> OptimizationResult:
    """Minimise the FEM drag `J` under its constraints with SLSQP and adjoint gradients, from `s0` (m,)
    (default: the case's shape, s = 0), made feasible first (`DesignSpace.feasible_start`: the circle
    dilated to another area ratio); a start the reference mesh cannot follow gets a mesh generated for it,
    and a run stopped by shapes the mesh could not follow starts again on a mesh generated for its last
    iterate. `progress` gets each logged `Iteration`."""
    start = time.perf_counter()
    problem = J.problem
    s0, _ = J.space.feasible_start(np.zeros(J.size) if s0 is None else s0)
    initial, start_remesh = evaluate_start(J, s0)
    remeshes = [] if start_remesh is None else [start_remesh]
    run = _SlsqpRun(J, initial, start, progress)
    s = initial.s
    for restart in range(MAX_RESTARTS + 1):
        final, message, converged = _slsqp_from(J, run, s)
        reason, run.mesh_refusal = run.mesh_refusal, None
        if converged or reason is None or restart == MAX_RESTARTS or problem.case.domain.flow.revolution:
            break
        if np.array_equal(problem.morph.fitted, final.s):  # generated for it already: no nearer mesh
            break
        again, _, record = remesh_iterate(J, final, len(run.history) - 1, reason, None)
        remeshes.append(record)
        run.best, s = again, again.s
    return OptimizationResult(
        method="slsqp",
        initial=J.shape_summary(initial),
        final=J.shape_summary(final),
        history=run.history,
        message=message,
        converged=converged,
        refused=run.refused,
        fem_solves=problem.fem_solves,
        adjoint_solves=problem.adjoint_solves,
        seconds=time.perf_counter() - start,
        final_state=problem.state(),  # the final evaluation was the last solve (or its cached repeat)
        remeshes=[record.to_dict() for record in remeshes],
    )


def _slsqp_from(J: ReducedFunctional, run: _SlsqpRun, s0: np.ndarray) -> tuple[Evaluation, str, bool]:
    """One SLSQP run from `s0` (m,) on the problem's current mesh and constraints: its final evaluation,
    message and convergence (`_SlsqpRun.final`)."""
    settings = J.problem.case.optimize
    run.log_iterate(s0)
    try:
        outcome = minimize(
            run.objective,
            s0,
            jac=True,
            method="SLSQP",
            bounds=J.space.bounds,
            constraints=J.space.scipy_constraints(),
            callback=run.log_iterate,
            options={"maxiter": settings.max_iterations, "ftol": settings.tolerance},
        )
    except ShapeoptError as exc:
        raise type(exc)(f"{exc} (during adjoint optimization, after {len(run.history)} iterations)") from None
    except _MeshCannotFollowError:
        run.refusals_in_a_row = 0
        message = "stopped: its trial shapes crush the mesh's cells or reach past its map"
        return J.evaluate(np.asarray(run.history[-1].s)), message, False
    return run.final(outcome)
