"""Two bodies of least drag, in tandem and side by side, against the single body of least drag.

Each body has its own shape (the B-splines of `cases/cylinder-re20.toml`) at the circle's area and
centroid; the objective is the pair's total drag (and, in the extra rows, the rear body's drag alone or
the upper body's drag plus its lift). Every problem is solved by the Newton trust region from the circles;
the run folders go to `--out`. Prints one table row per problem. With `--split`, no optimization:
the pressure and viscous parts of each body's C_D at the circles and at the optima in `--out`.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bodies_optimize.py [--level medium] [--out runs/bodies-optimize]
    OMP_NUM_THREADS=1 .venv/bin/python bench/bodies_optimize.py --split
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from shapeopt.app.runs import optimize_case, read_run
from shapeopt.cases import LEVELS, Objective, load_case
from shapeopt.fem.problem import DragProblem

CASE = Path(__file__).resolve().parents[1] / "cases" / "cylinder-re20.toml"


def problem(base, name: str, bodies, re: float, level: str, objective: Objective):
    """The case `name` of bodies at `bodies` ((x, y) centres in D) with `objective`, at `re` and `level`."""
    domain = dataclasses.replace(base.domain, bodies=tuple(bodies))
    case = dataclasses.replace(base, name=name, description="", domain=domain, objective=objective)
    return case.with_overrides(re=re, level=level)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="medium", choices=LEVELS)
    parser.add_argument("--re", type=float, nargs="+", default=[20.0, 40.0])
    parser.add_argument("--tandem", type=float, nargs="+", default=[4.0, 8.0])
    parser.add_argument("--side", type=float, nargs="+", default=[3.0, 6.0])
    parser.add_argument("--out", type=Path, default=Path("runs/bodies-optimize"))
    parser.add_argument("--split", action="store_true", help="drag parts of the optima in --out")
    args = parser.parse_args()
    base = load_case(CASE)
    if args.split:
        print_split(args.out)
        return
    print(f"level {args.level}; Newton trust region from the circles; C_D of each body on D = 1\n")
    print(
        "| Re | arrangement | distance | objective | C_D circles | C_D optimum | change | C_D front / lower "
        "| C_D rear / upper | C_L each | length/height each | tip angles front/rear each | FEM solves | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for re in args.re:
        rows = [("single", 0.0, [(0.0, 0.0)], Objective())]
        rows += [("tandem", d, [(0.0, 0.0), (d, 0.0)], Objective()) for d in args.tandem]
        rows += [("side by side", d, [(0.0, -d / 2), (0.0, d / 2)], Objective()) for d in args.side]
        if re == args.re[0]:
            d, e = args.tandem[0], args.side[0]
            rows.append(("tandem", d, [(0.0, 0.0), (d, 0.0)], Objective(body=2)))
            rows.append(
                ("side by side", e, [(0.0, -e / 2), (0.0, e / 2)], Objective(body=2, lift_weight=1.0))
            )
        for arrangement, distance, bodies, objective in rows:
            name = f"re{re:g}-{arrangement.replace(' ', '-')}-{distance:g}-body{objective.body}"
            name += f"-lift{objective.lift_weight:g}"
            case = problem(base, name, bodies, re, args.level, objective)
            start = time.perf_counter()
            result, _ = optimize_case(case, args.out / name, "newton")
            seconds = time.perf_counter() - start
            initial, final = result.initial, result.final
            parts = final.bodies or [
                {
                    "cd": final.objective_value,
                    "cl": final.lift,
                    "length": final.length,
                    "height": final.height,
                    "front": final.front_angle,
                    "rear": final.rear_angle,
                }
            ]
            j0, j1 = initial.objective_value, final.objective_value
            drags = " | ".join(f"{p['cd']:.4f}" for p in parts) + (" | –" if len(parts) == 1 else "")
            print(
                f"| {re:g} | {arrangement} | {distance:g} | {objective.describe()} | {j0:.4f} "
                f"| {j1:.4f} | {j1 / j0 - 1:+.1%} | {drags} "
                f"| {' / '.join(f'{p["cl"]:+.3f}' for p in parts)} "
                f"| {' / '.join(f'{p["length"] / p["height"]:.2f}' for p in parts)} "
                f"| {' / '.join(f'{p["front"]:.0f}°–{p["rear"]:.0f}°' for p in parts)} "
                f"| {result.fem_solves}{'' if result.converged else ' (not converged)'} | {seconds:.0f} |",
                flush=True,
            )


def print_split(out: Path) -> None:
    """Pressure and viscous parts of each body's C_D, circles and optimum, of each total-drag run in `out`."""
    print(
        "| run | body | circle: pressure / viscous | optimum: pressure / viscous | viscous share, optimum |"
    )
    print("|---|---|---|---|---|")
    for run in sorted(out.glob("*-body0-lift0")):
        case, _, final = read_run(run)
        with DragProblem(case) as solved:
            parts = []
            for s in (np.zeros(solved.size), final):
                solved.evaluate(s)
                parts.append(solved.forces.drag_parts())
        for k, (circle, optimum) in enumerate(zip(*parts, strict=True), 1):
            print(
                f"| {run.name} | {k} | {circle[0]:.4f} / {circle[1]:.4f} "
                f"| {optimum[0]:.4f} / {optimum[1]:.4f} "
                f"| {optimum[1] / sum(optimum):.0%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
