"""Bodies of revolution of least drag at the volume of a sphere of diameter 1, against the sphere.

For each Re: `shapeopt optimize cases/revolution.toml --re RE` (Newton; into OUT/reRE, reused when
there): the sphere's C_D (the first iterate), the optimum's, their ratio, length over diameter, tip
angles and FEM solves. The Stokes limit (Pironneau 1973): a rugby ball with conical ends of 120°.

    OMP_NUM_THREADS=1 .venv/bin/python bench/revolution.py --out runs/revolution
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from costs import solve_costs
from fem_counts import stored_or_optimized

from shapeopt.app.runs import solve_case
from shapeopt.cases import LEVELS, load_case

CASE = Path(__file__).resolve().parents[1] / "cases" / "revolution.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/revolution"))
    parser.add_argument("--level", default="medium", choices=LEVELS)
    parser.add_argument("--re", type=float, nargs="+", default=[0.1, 1.0, 10.0, 100.0])
    args = parser.parse_args()
    base = load_case(CASE).with_overrides(level=args.level)
    print(f"level {args.level}, {base.shape.modes} B-splines (mirror-symmetric), volume of the sphere\n")
    print(
        "| Re | C_D sphere | C_D optimum | ratio | length / diameter | tip angles front / rear | KKT "
        "| FEM solves |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for re in args.re:
        case = dataclasses.replace(base, re=re)
        summary, history = stored_or_optimized(case, args.out / f"re{re:g}")
        i, f = summary["initial"], summary["final"]
        print(
            f"| {re:g} | {i['cd']:.5f} | {f['cd']:.5f} | {f['cd'] / i['cd']:.4f} "
            f"| {f['length'] / f['height']:.2f} "
            f"| {f['front_angle']:.0f}° / {f['rear_angle']:.0f}° | {history[-1]['kkt_residual']:.1e} "
            f"| {summary['fem_solves']} |",
            flush=True,
        )
    dofs, cold, warm, adjoint = solve_costs(base)
    print(
        f"\nlevel {args.level}: {dofs} DOFs; a solve from Stokes {cold:.2f} s, a warm solve {warm:.2f} s, "
        f"the adjoint {adjoint:.2f} s ({adjoint / warm:.2f} of a warm solve)"
    )
    print("\nC_D of the Re 1 optimum of this level on each level (the same parameters):\n")
    shape = args.out / "re1" / "shape.json"
    if shape.is_file():
        values = [solve_case(base.with_overrides(level=level), shape)["cd"] for level in LEVELS]
        print(" | ".join(f"{level} {cd:.5f}" for level, cd in zip(LEVELS, values, strict=True)))


if __name__ == "__main__":
    main()
