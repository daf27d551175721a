"""What the benches count from optimization runs: FEM solves until a goal was first reached, and the run
directories they reuse (`stored_or_optimized`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from shapeopt.app.runs import optimize_case
from shapeopt.cases import Case


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


def stored_or_optimized(
    case: Case, out: Path, method: str = "newton", surrogate: Path | None = None, refit: bool = False
) -> tuple[dict, list[dict]]:
    """summary.json and the history of the optimization in `out` (`optimize_case`), run first unless
    complete."""
    if not (out / "summary.json").is_file():
        optimize_case(case, out, method, surrogate=surrogate, refit=refit)
    summary = json.loads((out / "summary.json").read_text())
    return summary, json.loads((out / "history.json").read_text())["history"]
