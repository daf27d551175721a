"""Cost and mesh convergence of two bodies: DOFs, solve and adjoint seconds, C_D over the three levels.

For the tandem pair 4 D apart and the side-by-side pair 3 D apart at Re 20 (`cases/tandem-re20.toml`,
`cases/side-by-side-re20.toml`): DOFs and the wall seconds of a solve from Stokes, of a warm solve after a
small shape change and of the adjoint there (`costs.solve_costs`) at `--level`; then the
total C_D of the circles and of the optimum found by `bench/bodies_optimize.py` (its shape.json under
`--optima`) on each level, the same parameters morphing each level's reference mesh.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bodies_costs.py [--optima runs/bodies-optimize]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from costs import solve_costs

from shapeopt.app.runs import solve_case
from shapeopt.cases import LEVELS, load_case
from shapeopt.errors import ShapeError

CASES = Path(__file__).resolve().parents[1] / "cases"
PAIRS = {"tandem-re20": "re20-tandem-4-body0-lift0", "side-by-side-re20": "re20-side-by-side-3-body0-lift0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="medium", choices=LEVELS)
    parser.add_argument("--optima", type=Path, default=Path("runs/bodies-optimize"))
    args = parser.parse_args()
    print("| case | level | DOFs | solve from Stokes (s) | warm solve (s) | adjoint (s) | adjoint / warm |")
    print("|---|---|---|---|---|---|---|")
    for name in PAIRS:
        case = load_case(CASES / f"{name}.toml").with_overrides(level=args.level)
        dofs, cold, warm, adjoint = solve_costs(case)
        print(
            f"| {name} | {args.level} | {dofs} | {cold:.2f} | {warm:.2f} | {adjoint:.2f} "
            f"| {adjoint / warm:.2f} |",
            flush=True,
        )
    print("\n| case | shape | " + " | ".join(f"C_D {level}" for level in LEVELS) + " | medium → fine |")
    print("|---|---|" + "---|" * (len(LEVELS) + 1))
    for name, run in PAIRS.items():
        case = load_case(CASES / f"{name}.toml")
        for label, shape in (("circles", None), ("optimum", args.optima / run / "shape.json")):
            values = []
            for level in LEVELS:
                try:
                    values.append(solve_case(case.with_overrides(level=level), shape)["cd"])
                except ShapeError:  # the coarse mesh cannot follow the optimum's tips
                    values.append(float("nan"))
            change = values[2] / values[1] - 1
            row = " | ".join("not mappable" if v != v else f"{v:.5f}" for v in values)
            print(f"| {name} | {label} | {row} | {change:+.3%} |", flush=True)


if __name__ == "__main__":
    main()
