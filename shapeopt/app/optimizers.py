"""The optimizers that `optimize --method` names, each with how it runs on a problem and what its progress
line shows (`progress_line`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shapeopt.app.surrogate_route import SurrogateRoute
from shapeopt.cases import Case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.design.newton import optimize_newton
from shapeopt.design.regret import optimize_worst_regret, reference_optima
from shapeopt.design.results import Iteration, OptimizationResult, TrustStep
from shapeopt.design.slsqp import optimize_slsqp
from shapeopt.errors import CaseError

# The iterates' callback of a run.
Progress = Callable[[Iteration | TrustStep], None]


@dataclass(frozen=True)
class Optimizer:
    """One optimizer: `run(J, s0, progress, route)` minimises J from s0 (m,; None: the case's shape) and
    passes each iterate to `progress`; the surrogate route uses `route` (None for the others). `fields`
    gives the optimizer's own part of an iterate's progress line."""

    run: Callable[[ReducedFunctional, np.ndarray | None, Progress, SurrogateRoute | None], OptimizationResult]
    fields: Callable[[Iteration | TrustStep], str]
    uses_surrogate: bool = False


def _newton(J: ReducedFunctional, s0: np.ndarray | None, progress: Progress, route) -> OptimizationResult:
    return optimize_newton(J, s0, progress)


def _slsqp(J: ReducedFunctional, s0: np.ndarray | None, progress: Progress, route) -> OptimizationResult:
    return optimize_slsqp(J, s0, progress)


def _surrogate(
    J: ReducedFunctional, s0: np.ndarray | None, progress: Progress, route: SurrogateRoute
) -> OptimizationResult:
    """The surrogate route from the surrogate's optima (the start `s0` is not used), its dataset's designs
    searched beside the drawn ones."""
    return route.optimize(J, known=route.trained_designs(), progress=progress)[0]


def _trust_fields(step: TrustStep) -> str:
    """Radius and the last trial's ratio, or why there is none (`TrustStep.note`)."""
    return f"radius {step.radius:.1e}  " + (step.note if step.ratio is None else f"ratio {step.ratio:.2f}")


def _surrogate_fields(step: TrustStep) -> str:
    return f"surrogate {step.surrogate_cd:.8f}  {_trust_fields(step)}"


def _slsqp_fields(step: Iteration) -> str:
    return f"violation {step.violation:.1e}  |dC_D/ds| {step.gradient_norm:.2e}"


OPTIMIZERS = {
    "newton": Optimizer(_newton, _trust_fields),
    "slsqp": Optimizer(_slsqp, _slsqp_fields),
    "surrogate": Optimizer(_surrogate, _surrogate_fields, uses_surrogate=True),
}


def optimizer(method: str) -> Optimizer:
    """The optimizer named `method` (`OPTIMIZERS`), or `CaseError` in one line."""
    if method not in OPTIMIZERS:
        raise CaseError(f"unknown optimization method {method!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[method]


def refuse_operating_range(case: Case, what: str) -> None:
    """`CaseError` in one line where `case`'s objective is over an operating range of Re, which `what`
    (e.g. "atlas", "--refit") does not take yet."""
    if case.objective.multipoint:
        raise CaseError(
            f"{what}: not yet for an operating range (objective.re_range or objective.points); "
            "optimize with --method newton, slsqp or surrogate (without --refit)"
        )


def operating_range_table(
    J: MultipointFunctional, result: OptimizationResult, reference: list[OptimizationResult] | None = None
) -> list[dict[str, float]]:
    """Rows {re, weight, cd, initial_cd}: each Re's objective at the final and at the initial shape of
    `result` (`MultipointFunctional.per_re`; up to 2K solves after the run, outside its count); with the
    Re's own optima `reference`, also {cd_star, regret, initial_regret, reference_converged}."""
    initial = J.per_re(np.asarray(result.initial.s))
    final = J.per_re(np.asarray(result.final.s))
    rows = [row | {"initial_cd": start["cd"]} for row, start in zip(final, initial, strict=True)]
    for row, optimum in zip(rows, reference or [], strict=False):
        star = optimum.final.objective_value
        row |= {
            "cd_star": star,
            "regret": row["cd"] / star - 1.0,
            "initial_regret": row["initial_cd"] / star - 1.0,
            "reference_converged": optimum.converged,
        }
    return rows


def check_goal(case: Case, method: str) -> None:
    """`CaseError` in one line where `method` cannot minimise the case's `objective.goal`."""
    if case.objective.goal == "worst-regret" and method not in ("newton", "slsqp"):
        raise CaseError(
            f'objective.goal "worst-regret": not yet by --method {method}; use --method newton or slsqp '
            "(both solve it as an epigraph SLSQP)"
        )


def minimise_worst_regret(
    J: MultipointFunctional, s0: np.ndarray | None, method: str, progress: Progress
) -> tuple[OptimizationResult, list[OptimizationResult]]:
    """The case's goal "worst-regret": each Re's own optimum first (`reference_optima`, Newton from `s0`
    and along Re), then the epigraph SLSQP (`optimize_worst_regret`) from the optimum of the Re nearest
    the range's middle in ln Re. `method` newton or slsqp (both solve it so); the surrogate route does
    not take this goal yet (`check_goal`). Returns the result and the reference optima."""
    check_goal(J.problem.case, method)
    reference = reference_optima(J, s0)
    middle = int(np.argmin(np.abs(np.log(J.res) - np.log(J.res).mean())))
    stars = np.array([r.final.objective_value for r in reference])
    start = np.asarray(reference[middle].final.s)
    result = optimize_worst_regret(J, stars, start, progress)
    return result, reference


def progress_line(method: str, step: Iteration | TrustStep, name: str = "C_D") -> str:
    """One iterate of `method` as a line: its number and objective (called `name`), the optimizer's own
    fields, the KKT residual, the FEM solves and seconds so far."""
    fields = _slsqp_fields if isinstance(step, Iteration) else optimizer(method).fields
    return (
        f"iter {step.iteration:3d}  {name} {step.cd:.8f}  {fields(step)}  "
        f"KKT {step.kkt_residual:.1e}  FEM solves {step.fem_solves}  {step.seconds:.1f} s"
    )
