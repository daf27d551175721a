"""Two circles in the free stream: each one's drag in tandem and side by side, against a single circle.

Cases built from `cases/cylinder-re20.toml`'s box with `domain.bodies`: tandem (centres on the flow axis,
`--tandem` centre distances in D) and side by side (across the flow, `--side` distances), at each `--re`;
then, side by side far apart (20 and 40 D), each body against the same circle alone at its place.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bodies.py [--level medium]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from shapeopt.cases import LEVELS, load_case
from shapeopt.fem.simulate import run_solve

CASE = Path(__file__).resolve().parents[1] / "cases" / "cylinder-re20.toml"


def solved(base, bodies, re: float, level: str):
    """The solve's result for circles at `bodies` ((x, y) centres in D)."""
    domain = dataclasses.replace(base.domain, bodies=tuple(bodies))
    return run_solve(dataclasses.replace(base, domain=domain).with_overrides(re=re, level=level))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="medium", choices=LEVELS)
    parser.add_argument("--re", type=float, nargs="+", default=[20.0, 40.0])
    parser.add_argument("--tandem", type=float, nargs="+", default=[2.0, 5.0])
    parser.add_argument("--side", type=float, nargs="+", default=[1.5, 3.0])
    args = parser.parse_args()
    base = load_case(CASE)
    box = f"{base.domain.upstream:g} / {base.domain.downstream:g} / ±{base.domain.half_width:g} D"
    print(f"level {args.level}, box {box}\n")
    print(
        "| Re | arrangement | centre distance | C_D front / lower | C_D rear / upper | total | C_L each "
        "| single circle | total / 2 singles |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for re in args.re:
        single = solved(base, [(0.0, 0.0)], re, args.level).cd
        rows = [("tandem", d, [(0.0, 0.0), (d, 0.0)]) for d in args.tandem]
        rows += [("side by side", d, [(0.0, -d / 2), (0.0, d / 2)]) for d in args.side]
        for arrangement, distance, bodies in rows:
            result = solved(base, bodies, re, args.level)
            first, second = result.bodies
            print(
                f"| {re:g} | {arrangement} | {distance:g} | {first['cd']:.4f} | {second['cd']:.4f} "
                f"| {result.cd:.4f} | {first['cl']:+.4f} / {second['cl']:+.4f} | {single:.4f} "
                f"| {result.cd / (2 * single):.3f} |",
                flush=True,
            )
    print("\nFar apart, side by side: each body against the same circle alone at its place\n")
    print(
        "| Re | centre distance | C_D upper (pair) | C_D alone at its place | excess |\n|---|---|---|---|---|"
    )
    for re in args.re:
        for distance in (20.0, 40.0):
            pair = solved(base, [(0.0, -distance / 2), (0.0, distance / 2)], re, args.level).bodies[1]["cd"]
            alone = solved(base, [(0.0, distance / 2)], re, args.level).cd
            print(
                f"| {re:g} | {distance:g} | {pair:.4f} | {alone:.4f} | {pair / alone - 1:+.2%} |", flush=True
            )


if __name__ == "__main__":
    main()
