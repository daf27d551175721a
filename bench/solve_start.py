"""Where a verified solve's Newton iteration starts: Stokes, the neighbouring optimum's flow, or the
surrogate's predicted flow. Newton iterations and seconds per solve over a finished atlas.

For every problem of an atlas folder that started from another problem's optimum (the atlas's warm
start), one FEM solve at that start design s₀ and the problem's Re, its Newton iteration started from
(1) Stokes, (2) the flow at the neighbouring optimum (what the atlas does: `DragProblem.start_from`),
(3) the surrogate's predicted flow at (s₀, Re) (`Surrogate.state`). Prints one row per problem and the
medians; the converged C_D must agree.

    OMP_NUM_THREADS=1 .venv/bin/python bench/solve_start.py --atlas runs/atlas-newton \\
        --surrogate data/wide-medium-160-sobolev.pt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import surrogates
from shapeopt.app.atlas import PROBLEMS, RECORD
from shapeopt.app.atlas_starts import Conditions, case_for, warm_start
from shapeopt.cases import case_from_dict
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem

STARTS = ("Stokes", "neighbour", "surrogate")


def timed_solve(problem: DragProblem, s: np.ndarray, state: np.ndarray | None) -> tuple[int, float, float]:
    """Newton iterations, seconds and C_D of a solve at s from `state` (None: Stokes)."""
    problem.move_to(np.zeros(problem.size))  # no solution cached at s
    problem.start_from(state)
    start = time.perf_counter()
    evaluation = problem.evaluate(s)
    return evaluation.newton_iterations, time.perf_counter() - start, evaluation.objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atlas", type=Path, required=True, help="a finished atlas folder")
    parser.add_argument("--surrogate", type=Path, required=True)
    args = parser.parse_args()
    model = surrogates.load(args.surrogate)
    record = json.loads((args.atlas / RECORD).read_text())
    base = case_from_dict(record["case"], str(args.atlas / RECORD))
    rows = json.loads((args.atlas / "atlas.json").read_text())["rows"]
    summaries = {
        Conditions.of_row(row).name: json.loads(
            (args.atlas / PROBLEMS / Conditions.of_row(row).name / "summary.json").read_text()
        )
        for row in rows
    }
    print(f"atlas {args.atlas}, surrogate {args.surrogate}\n")
    print("| problem | from | " + " | ".join(f"{start}: iterations, s" for start in STARTS) + " |")
    print("|---|---|" + "---|" * len(STARTS))
    found: dict[str, tuple[Conditions, np.ndarray]] = {}
    results: list[list[tuple[int, float]]] = []
    for row in rows:
        conditions = Conditions.of_row(row)
        with DragProblem(case_for(base, conditions), MPI.COMM_SELF) as problem:
            s0, source = warm_start(problem.space, conditions, found)
            neighbour = source.replace("*", "+").split("+")[-1 if "*" in source else 0]
            if neighbour in found:
                other, s_other = found[neighbour]
                problem.evaluate(s_other, re=other.re)
                states = [None, problem.state(), model.state(s0[None, :], np.array([conditions.re]))[0]]
                solves = [timed_solve(problem, s0, state) for state in states]
                if max(cd for *_, cd in solves) - min(cd for *_, cd in solves) > 1e-9 * solves[0][2]:
                    raise SystemExit(f"{conditions.name}: the starts converge to different flows")
                results.append([(n, t) for n, t, _ in solves])
                shown = " | ".join(f"{n}, {t:.2f}" for n, t, _ in solves)
                print(f"| {conditions.name} | {source} | {shown} |", flush=True)
        found[conditions.name] = (conditions, np.array(summaries[conditions.name]["final"]["s"]))
    medians = np.median(np.array(results), axis=0)
    print("| median | | " + " | ".join(f"{n:g}, {t:.2f}" for n, t in medians) + " |")


if __name__ == "__main__":
    main()
