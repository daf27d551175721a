"""The least-drag body at several resolutions of the design space: C_D and the outline converge.

For each number of B-spline coefficients and each knot stretch (`shape.knot_stretch`; 1 is knots uniform
in the polar angle): `shapeopt optimize cases/cylinder-reN.toml` (N from `--re`) with `shape.modes` and
the stretch set (run folders OUT/mN, OUT/mN-kS are reused when complete). Prints C_D, its relative change
to the next finer count of the same stretch, C_D of the optimum solved again on the next finer mesh level,
length/height, tip angles, the curvature sign changes on the flanks' middle 70 %, FEM solves, the final
KKT residual and the largest radial distance of each optimum's outline from the finest one of its
stretch; draws them overlaid.

    OMP_NUM_THREADS=1 .venv/bin/python bench/parametrisation.py [--re 40] [--modes 12 24 48] [--stretch 1 3]
        [--out runs/modes]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from fem_counts import fem_solves_to_kkt, stored_or_optimized
from reference_shapes import flank_inflections

from shapeopt.app.runs import solve_case
from shapeopt.cases import LEVELS, load_case
from shapeopt.designs import body_shape
from shapeopt.viz.plots import plot_outlines

CASES = Path(__file__).resolve().parents[1] / "cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", type=int, nargs="+", default=[12, 24, 48])
    parser.add_argument("--stretch", type=float, nargs="+", default=[1.0])
    parser.add_argument("--re", type=int, default=40, help="Reynolds number N of cases/cylinder-reN.toml")
    parser.add_argument("--level", default="medium", choices=LEVELS[:-1])
    parser.add_argument("--out", type=Path, default=Path("runs/modes"))
    args = parser.parse_args()
    finer = LEVELS[LEVELS.index(args.level) + 1]
    base = load_case(CASES / f"cylinder-re{args.re}.toml").with_overrides(level=args.level)
    theta = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    rows = []
    for stretch in args.stretch:
        for modes in args.modes:
            shape_settings = dataclasses.replace(base.shape, modes=modes, knot_stretch=stretch)
            case = dataclasses.replace(base, shape=shape_settings)
            run = args.out / (f"m{modes}" if stretch == 1.0 else f"m{modes}-k{stretch:g}")
            summary, history = stored_or_optimized(case, run, "slsqp")
            shape = body_shape(case)
            s = np.asarray(summary["final"]["s"])
            steps = [SimpleNamespace(**step) for step in history]
            fine = solve_case(case.with_overrides(level=finer), run / "shape.json")["cd"]
            rows.append((modes, stretch, summary, steps, shape.radius(theta, s), shape, s, fine))
    finest = {stretch: radius for _, stretch, _, _, radius, _, _, _ in rows}  # the last row of each stretch
    print(f"\nRe {args.re}, level {args.level}\n")
    print(
        f"| coefficients | knot stretch | C_D | C_D change to the next count | C_D on {finer} "
        "| length/height | tip angles front / rear | flank inflections | max |r − r_finest| / D | FEM solves "
        "| to KKT ≤ 1e-4 | KKT |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row, (modes, stretch, summary, steps, radius, shape, s, fine) in enumerate(rows):
        f = summary["final"]
        ripples = flank_inflections(shape.outline_at(theta, s))
        more = rows[row + 1] if row + 1 < len(rows) and rows[row + 1][1] == stretch else None
        change = f"{more[2]['final']['cd'] / f['cd'] - 1:+.3%}" if more else "—"
        print(
            f"| {modes} | {stretch:g} | {f['cd']:.5f} | {change} | {fine:.5f} "
            f"| {f['length'] / f['height']:.2f} | {f['front_angle']:.0f}° / {f['rear_angle']:.0f}° "
            f"| {ripples} | {np.max(np.abs(radius - finest[stretch])):.4f} | {summary['fem_solves']} "
            f"| {fem_solves_to_kkt(steps, 1e-4)} | {steps[-1].kkt_residual:.1e} |"
        )
    figure = args.out / "optima.png"
    outlines = [
        (f"{modes} coefficients, stretch {stretch:g}", shape.outline_at(theta, s))
        for modes, stretch, _, _, _, shape, s, _ in rows
    ]
    plot_outlines(outlines, figure, title=f"Re {args.re}: least drag by resolution and knot stretch")
    print(f"\n{figure}")


if __name__ == "__main__":
    main()
