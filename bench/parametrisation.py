"""The Re 40 least-drag body at three resolutions of the design space: C_D and the outline converge.

For each number of B-spline coefficients: `shapeopt optimize cases/cylinder-re40.toml` with `shape.modes`
set to it (run folders OUT/mN are reused when complete). Prints C_D, length/height, tip angles, FEM solves
and the largest radial distance of each optimum's outline from the finest one; draws them overlaid.

    OMP_NUM_THREADS=1 .venv/bin/python bench/parametrisation.py [--modes 12 24 48] [--out runs/modes]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from shapeopt.cases import body_shape, load_case
from shapeopt.design.runs import stored_or_optimized
from shapeopt.viz.plots import plot_outlines

CASES = Path(__file__).resolve().parents[1] / "cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", type=int, nargs="+", default=[12, 24, 48])
    parser.add_argument("--level", default="medium")
    parser.add_argument("--out", type=Path, default=Path("runs/modes"))
    args = parser.parse_args()
    base = load_case(CASES / "cylinder-re40.toml").with_overrides(level=args.level)
    theta = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    rows = []
    for modes in args.modes:
        case = dataclasses.replace(base, shape=dataclasses.replace(base.shape, modes=modes))
        run = args.out / f"m{modes}"
        summary, _ = stored_or_optimized(case, run)
        shape = body_shape(case)
        s = np.asarray(summary["final"]["s"])
        rows.append((modes, summary, shape.radius(theta, s), shape, s))
    finest = rows[-1][2]
    print(f"\nRe 40, level {args.level}\n")
    print(
        "| coefficients | C_D | length/height | tip angles front / rear | max |r − r_finest| / D "
        "| FEM solves |"
    )
    print("|---|---|---|---|---|---|")
    for modes, summary, radius, _, _ in rows:
        f = summary["final"]
        print(
            f"| {modes} | {f['cd']:.5f} | {f['length'] / f['height']:.2f} "
            f"| {f['front_angle']:.0f}° / {f['rear_angle']:.0f}° | {np.max(np.abs(radius - finest)):.4f} "
            f"| {summary['fem_solves']} |"
        )
    figure = args.out / "optima.png"
    outlines = [(f"{modes} coefficients", shape.outline_at(theta, s)) for modes, _, _, shape, s in rows]
    plot_outlines(outlines, figure, title="Re 40: least drag at three resolutions")
    print(f"\n{figure}")


if __name__ == "__main__":
    main()
