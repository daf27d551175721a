"""The Re 40 least-drag body at several resolutions of the design space: C_D and the outline converge.

For each number of B-spline coefficients and each knot stretch (`shape.knot_stretch`; 1 is knots uniform
in the polar angle): `shapeopt optimize cases/cylinder-re40.toml` with `shape.modes` and the stretch set
(run folders OUT/mN, OUT/mN-kS are reused when complete). Prints C_D, length/height, tip angles, the
curvature sign changes on the flanks' middle 70 %, FEM solves, the final KKT residual and the largest
radial distance of each optimum's outline from the finest one of its stretch; draws them overlaid.

    OMP_NUM_THREADS=1 .venv/bin/python bench/parametrisation.py [--modes 12 24 48] [--stretch 1 3]
        [--out runs/modes]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from shapeopt.cases import body_shape, load_case
from shapeopt.design.optimize import fem_solves_to_kkt
from shapeopt.design.runs import stored_or_optimized
from shapeopt.geometry.outlines import flank_inflections
from shapeopt.viz.plots import plot_outlines

CASES = Path(__file__).resolve().parents[1] / "cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", type=int, nargs="+", default=[12, 24, 48])
    parser.add_argument("--stretch", type=float, nargs="+", default=[1.0])
    parser.add_argument("--level", default="medium")
    parser.add_argument("--out", type=Path, default=Path("runs/modes"))
    args = parser.parse_args()
    base = load_case(CASES / "cylinder-re40.toml").with_overrides(level=args.level)
    theta = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    rows = []
    for stretch in args.stretch:
        for modes in args.modes:
            shape_settings = dataclasses.replace(base.shape, modes=modes, knot_stretch=stretch)
            case = dataclasses.replace(base, shape=shape_settings)
            run = args.out / (f"m{modes}" if stretch == 1.0 else f"m{modes}-k{stretch:g}")
            summary, history = stored_or_optimized(case, run)
            shape = body_shape(case)
            s = np.asarray(summary["final"]["s"])
            steps = [SimpleNamespace(**step) for step in history]
            rows.append((modes, stretch, summary, steps, shape.radius(theta, s), shape, s))
    finest = {stretch: radius for _, stretch, _, _, radius, _, _ in rows}  # the last row of each stretch
    print(f"\nRe 40, level {args.level}\n")
    print(
        "| coefficients | knot stretch | C_D | length/height | tip angles front / rear | flank inflections "
        "| max |r − r_finest| / D | FEM solves | to KKT ≤ 1e-4 | KKT |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for modes, stretch, summary, steps, radius, shape, s in rows:
        f = summary["final"]
        ripples = flank_inflections(shape.outline_at(theta, s))
        print(
            f"| {modes} | {stretch:g} | {f['cd']:.5f} | {f['length'] / f['height']:.2f} "
            f"| {f['front_angle']:.0f}° / {f['rear_angle']:.0f}° | {ripples} "
            f"| {np.max(np.abs(radius - finest[stretch])):.4f} | {summary['fem_solves']} "
            f"| {fem_solves_to_kkt(steps, 1e-4)} | {steps[-1].kkt_residual:.1e} |"
        )
    figure = args.out / "optima.png"
    outlines = [
        (f"{modes} coefficients, stretch {stretch:g}", shape.outline_at(theta, s))
        for modes, stretch, _, _, _, shape, s in rows
    ]
    plot_outlines(outlines, figure, title="Re 40: least drag by resolution and knot stretch")
    print(f"\n{figure}")


if __name__ == "__main__":
    main()
