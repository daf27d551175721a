"""Least-drag bodies at Re 1, 5, 10, 20, 40 in the wide design space, each re-evaluated a level finer.

For each Re: `shapeopt optimize cases/cylinder-reN.toml --method METHOD --level LEVEL --out OUT/reN`
(skipped when OUT/reN/summary.json exists), then the optimum solved on the next finer mesh level. Prints
the table of the README and draws the five optima overlaid into OUT/optima.png. With `--method
surrogate`, one surrogate over Re 1–40 (`--surrogate`, trained on cases/wide-re1-40.toml) serves all
five; `--refit` grows its dataset with each run's FEM samples; `--adjoint` names the adjoint runs to
compare with. `--modes` and `--stretch` override the cases' B-spline count and knot stretch
(`shape.modes`, `shape.knot_stretch`; the cases have 16 and 3, the wide surrogate's space 24 and 1). A
run folder holding another method, count or stretch is refused, not reused.

    OMP_NUM_THREADS=1 .venv/bin/python bench/min_drag.py --method slsqp [--level medium] \
        --out runs/min-drag-m16-k3
    OMP_NUM_THREADS=1 .venv/bin/python bench/min_drag.py --method slsqp --modes 24 --stretch 1 \
        --out runs/min-drag
    OMP_NUM_THREADS=1 .venv/bin/python bench/min_drag.py --modes 24 --stretch 1 --method surrogate \
        --surrogate S.pt --refit --out runs/min-drag-surrogate --adjoint runs/min-drag
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from fem_counts import fem_solves_to_kkt, stored_or_optimized
from reference_shapes import flank_inflections

from shapeopt.app.runs import solve_case
from shapeopt.cases import LEVELS, load_case
from shapeopt.designs import body_shape
from shapeopt.viz.plots import plot_shapes

CASES = Path(__file__).resolve().parents[1] / "cases"
REYNOLDS = (1, 5, 10, 20, 40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="medium", choices=LEVELS[:-1])
    parser.add_argument("--out", type=Path, default=Path("runs/min-drag"))
    parser.add_argument("--method", default="newton", choices=("newton", "slsqp", "surrogate"))
    parser.add_argument("--surrogate", type=Path, help="surrogate (.pt) for --method surrogate")
    parser.add_argument("--refit", action="store_true", help="grow the surrogate's dataset run by run")
    parser.add_argument("--adjoint", type=Path, help="adjoint runs (OUT of an adjoint call) to compare with")
    parser.add_argument("--modes", type=int, help="B-spline coefficients (default: the cases')")
    parser.add_argument("--stretch", type=float, help="knot stretch (default: the cases')")
    args = parser.parse_args()
    finer = LEVELS[LEVELS.index(args.level) + 1]
    print(f"{args.method} optimization on level {args.level}, optimum re-evaluated on level {finer}\n")
    print(
        f"| Re | C_D circle | C_D optimum | change | C_D on {finer} | change on {finer} | length/height "
        "| tip angles front / rear | flank inflections | active bounds | KKT | FEM solves | to KKT ≤ 1e-4 "
        "| s | vs adjoint |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    optima = []
    for re in REYNOLDS:
        case = load_case(CASES / f"cylinder-re{re}.toml").with_overrides(level=args.level)
        shape = dataclasses.replace(
            case.shape,
            modes=args.modes or case.shape.modes,
            knot_stretch=args.stretch or case.shape.knot_stretch,
        )
        case = dataclasses.replace(case, shape=shape)
        run = args.out / f"re{re}"
        summary, history = stored_or_optimized(case, run, args.method, args.surrogate, args.refit)
        stored = (summary["method"], summary["case"]["shape"]["modes"])
        stored += (summary["case"]["shape"].get("knot_stretch", 1.0),)
        if stored != (args.method, shape.modes, shape.knot_stretch):
            raise SystemExit(
                f"{run} holds a run of method {stored[0]} with {stored[1]} coefficients, knot stretch "
                f"{stored[2]:g}, not {args.method}, {shape.modes}, {shape.knot_stretch:g}: "
                "choose another --out"
            )
        adjoint = args.adjoint / f"re{re}" / "summary.json" if args.adjoint else None
        versus = "—"
        if adjoint is not None and adjoint.is_file():
            versus = f"{summary['final']['cd'] / json.loads(adjoint.read_text())['final']['cd'] - 1:+.1e}"
        i, f = summary["initial"], summary["final"]
        fine = solve_case(case.with_overrides(level=finer), run / "shape.json")
        optima.append((f"Re {re}", np.asarray(f["s"])))
        ripples = flank_inflections(body_shape(case).outline(np.asarray(f["s"]), 4000)[:-1])
        to_kkt = fem_solves_to_kkt([SimpleNamespace(**step) for step in history], 1e-4)
        print(
            f"| {re} | {i['cd']:.5f} | {f['cd']:.5f} | {f['cd'] / i['cd'] - 1:+.1%} | {fine['cd']:.5f} "
            f"| {fine['cd'] / f['cd'] - 1:+.2%} | {f['length'] / f['height']:.2f} "
            f"| {f['front_angle']:.0f}° / {f['rear_angle']:.0f}° | {ripples} "
            f"| {', '.join(f['active_bounds']) or 'none'} | {history[-1]['kkt_residual']:.1e} "
            f"| {summary['fem_solves']} | {to_kkt} | {summary['seconds']:.0f} "
            f"| {versus} |",
            flush=True,
        )
    plot_shapes(body_shape(case), optima, args.out / "optima.png", title="least drag at the circle's area")
    print(f"\n{args.out / 'optima.png'}")


if __name__ == "__main__":
    main()
