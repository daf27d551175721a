"""Four routes to each least-drag body in the wide space: what each costs in FEM solves and seconds.

Problems: Re ∈ `--re` (default 1.5, 3, 6, 12, 25: on no grid a dataset draws), area ratio 1, on
cases/wide-re1-40.toml (24 uniform B-spline coefficients), in order of Re. Routes:

- `newton-cold`: the Newton trust region (exact FEM Hessian) from the circle;
- `newton-warm`: the same from the previous problem's optimum (the first problem: cold);
- `surrogate-secant`: the surrogate's optimum, then the trust region on the corrected surrogate (SR1);
- `surrogate-exact`: the surrogate's optimum, then Newton steps on the exact FEM Hessian (the default).

The surrogate (`--surrogate`, trained on a dataset of cases/wide-re1-40.toml at the same level, `--data`
for its designs in the search) is counted apart: its dataset's FEM solves and training seconds are not in
the table. Prints one row per problem and route, then totals.

    shapeopt dataset cases/wide-re1-40.toml --samples 160 --workers 1 --out data/wide-medium-160.h5
    shapeopt train cases/wide-re1-40.toml --data data/wide-medium-160.h5 --method sobolev \
        --budget-seconds 180 --epochs 1000000 --out data/wide-medium-160-sobolev.pt
    OMP_NUM_THREADS=1 .venv/bin/python bench/routes.py --surrogate data/wide-medium-160-sobolev.pt \
        --data data/wide-medium-160.h5
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from fem_counts import fem_solves_to_kkt

import surrogates
from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.newton import optimize_newton
from shapeopt.design.results import OptimizationResult
from shapeopt.design.surrogate_search import optimize_surrogate
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.fem.problem import DragProblem
from surrogates.datafile import read_dataset

CASE = Path(__file__).resolve().parents[1] / "cases" / "wide-re1-40.toml"
ROUTES = ("newton-cold", "newton-warm", "surrogate-secant", "surrogate-exact")


def run_route(route: str, J: ReducedFunctional, args, warm: np.ndarray | None) -> OptimizationResult:
    """One route on the problem of `J`; `warm` (m,) is the previous problem's optimum or None."""
    if route == "newton-cold" or (route == "newton-warm" and warm is None):
        return optimize_newton(J)
    if route == "newton-warm":
        return optimize_newton(J, warm)
    settings = TrustRegionSettings(global_samples=args.search_samples, curvature=route.split("-")[1])
    return optimize_surrogate(J, args.model, settings, known=args.known)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the surrogate's dataset")
    parser.add_argument("--re", type=float, nargs="+", default=[1.5, 3.0, 6.0, 12.0, 25.0])
    parser.add_argument("--level", default="medium")
    parser.add_argument("--search-samples", type=int, default=2**14)
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES), help="in this order")
    args = parser.parse_args()
    args.model, args.known = surrogates.load(args.surrogate), read_dataset(args.data).s
    base = load_case(CASE).with_overrides(level=args.level)
    print(f"level {args.level}, surrogate {args.surrogate} ({len(args.known)} samples)\n")
    print(f"| Re | route | C_D | vs {args.routes[0]} | KKT | FEM solves | to KKT ≤ 1e-4 | Hessians | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = {route: [0, 0, 0.0] for route in args.routes}  # FEM solves, to 1e-4, seconds
    warm = None
    for re in args.re:
        case = dataclasses.replace(base, re=re, re_range=None)
        reference = None
        for route in args.routes:
            with DragProblem(case) as problem:
                start = time.perf_counter()
                result = run_route(route, ReducedFunctional(problem), args, warm)
                seconds = time.perf_counter() - start
            reference = reference or result
            to_kkt = fem_solves_to_kkt(result.history, 1e-4)
            totals[route][0] += result.fem_solves
            totals[route][1] += to_kkt or result.fem_solves
            totals[route][2] += seconds
            cd, kkt = result.final.objective_value, result.history[-1].kkt_residual
            print(
                f"| {re:g} | {route} | {cd:.8f} | {cd / reference.final.objective_value - 1:+.1e} "
                f"| {kkt:.1e} "
                f"| {result.fem_solves} | {to_kkt} | {result.hessians} | {seconds:.1f} |",
                flush=True,
            )
        warm = np.asarray(reference.final.s)
    print("\n| route | FEM solves | to KKT ≤ 1e-4 | s |\n|---|---|---|---|")
    for route, (solves, to_kkt, seconds) in totals.items():
        print(f"| {route} | {solves} | {to_kkt} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
