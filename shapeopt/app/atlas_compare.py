"""The atlas's two routes side by side: cumulative FEM solves and seconds against problems, break-even.

Everything is counted. The Newton route: its solves and seconds per problem, the circle's reference
solves included. The surrogate route: the same per problem, with the surrogate's refits, on top of what
the surrogate cost before the atlas (`atlas_surrogate.setup_cost`: its dataset's FEM solves and their
seconds, its training's seconds and FEM solves). Seconds are those of one process throughout (a dataset
made by two workers took about half its summed seconds of wall time). The break-even point is the first
problem after which the surrogate route's cumulative count is at most the Newton route's; where there is
none, the projection is setup cost over the mean saving per problem (never, where the surrogate route
saves nothing per problem).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shapeopt.viz.plots import plot_break_even


def cumulative(rows: list[dict[str, Any]], setup: float, per_problem: tuple[str, ...]) -> np.ndarray:
    """(n + 1,) `setup`, then `setup` plus the running sum over the rows of the `per_problem` columns."""
    steps = [sum(float(row.get(key, 0.0)) for key in per_problem) for row in rows]
    return setup + np.concatenate([[0.0], np.cumsum(steps)])


SOLVES = ("fem_solves", "reference_solves")
SECONDS = ("seconds", "reference_seconds", "refit_seconds")


def break_even(newton: np.ndarray, surrogate: np.ndarray) -> dict[str, Any]:
    """Where the surrogate route's cumulative cost (n + 1,) catches up with the Newton route's: the first
    problem count k ≥ 1 with surrogate[k] ≤ newton[k] (None if none), the mean saving per problem
    (Newton − surrogate, setup excluded) and the projected count setup / saving (None: never)."""
    n = len(newton) - 1
    reached = [k for k in range(1, n + 1) if surrogate[k] <= newton[k]]
    setup = surrogate[0] - newton[0]
    saving = float((newton[-1] - newton[0]) - (surrogate[-1] - surrogate[0])) / n if n else 0.0
    return {
        "problems": reached[0] if reached else None,
        "saving_per_problem": saving,
        "projected": float(setup / saving) if saving > 0 else None,
    }


def compare_routes(newton: dict[str, Any], surrogate: dict[str, Any]) -> dict[str, Any]:
    """The comparison of two atlas tables (atlas.json) over the same grid: cumulative FEM solves and
    seconds per route (lists of n + 1), the break-even of each (`break_even`), the totals, and whether every
    answer agrees (largest relative C_D difference)."""
    names = [_key(row) for row in newton["rows"]]
    if names != [_key(row) for row in surrogate["rows"]]:
        raise ValueError("the two atlases do not hold the same problems in the same order")
    setup = surrogate["setup"]
    curves = {
        "newton_solves": cumulative(newton["rows"], 0.0, SOLVES),
        "surrogate_solves": cumulative(
            surrogate["rows"], setup["dataset_solves"] + setup.get("training_solves", 0), SOLVES
        ),
        "newton_seconds": cumulative(newton["rows"], 0.0, SECONDS),
        "surrogate_seconds": cumulative(
            surrogate["rows"], setup["dataset_seconds"] + setup["training_seconds"], SECONDS
        ),
    }
    cd_difference = max(
        (abs(a["cd"] / b["cd"] - 1) for a, b in zip(surrogate["rows"], newton["rows"], strict=True)),
        default=0.0,
    )
    return {
        "problems": len(names),
        "setup": setup,
        "curves": {key: value.tolist() for key, value in curves.items()},
        "solves": {"newton": curves["newton_solves"][-1], "surrogate": curves["surrogate_solves"][-1]}
        | {"ratio": _ratio(curves["surrogate_solves"][-1], curves["newton_solves"][-1])},
        "seconds": {"newton": curves["newton_seconds"][-1], "surrogate": curves["surrogate_seconds"][-1]}
        | {"ratio": _ratio(curves["surrogate_seconds"][-1], curves["newton_seconds"][-1])},
        "break_even_solves": break_even(curves["newton_solves"], curves["surrogate_solves"]),
        "break_even_seconds": break_even(curves["newton_seconds"], curves["surrogate_seconds"]),
        "max_cd_difference": cd_difference,
        "max_kkt": max(newton["totals"]["max_kkt"], surrogate["totals"]["max_kkt"]),
    }


def _key(row: dict[str, Any]) -> tuple[float, float, float]:
    return (row["re"], row["area_ratio"], row["min_thickness"])


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def write_comparison_picture(comparison: dict[str, Any], path: Path, title: str = "") -> Path:
    """comparison.png: cumulative FEM solves and seconds against problems for both routes, with each
    break-even point marked (`plot_break_even`)."""
    curves = comparison["curves"]
    panels = [
        (
            "FEM solves (cumulative)",
            curves["newton_solves"],
            curves["surrogate_solves"],
            comparison["break_even_solves"],
        ),
        (
            "seconds, one process (cumulative)",
            curves["newton_seconds"],
            curves["surrogate_seconds"],
            comparison["break_even_seconds"],
        ),
    ]
    return plot_break_even(panels, path, title)
