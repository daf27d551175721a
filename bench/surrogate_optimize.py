"""Surrogate-driven vs FEM-adjoint drag reduction at Re 1, 5, 10, 20, 40 (FEM-verified C_D, FEM solves, time).

Needs trained surrogates for the medium reference mesh, e.g. from `bench/surrogate.py`:
`.venv/bin/python bench/surrogate_optimize.py --surrogate data/cyl-sobolev.pt [more.pt ...]` (serial, one
core). With several surrogates (say, trained with different seeds) the adjoint optimizations run once and
each surrogate gets its rows and a total, which shows how much the FEM count depends on the training run.
Dataset generation and training are reported separately (bench/surrogate.py, README). Besides the
solves to convergence, it counts the FEM solves each optimizer spent until its FEM C_D first came within
0.5% and 1e-4 of the better optimum, and until the FEM KKT residual first fell to the trust region's
tolerance 1e-4, each with the constraints met to 1e-6.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fem_counts import fem_solves_to_kkt, fem_solves_to_within

import surrogates
from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.slsqp import optimize_slsqp
from shapeopt.design.surrogate_search import optimize_surrogate
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.designs import parameter_spec
from shapeopt.fem.problem import DragProblem

CASES = Path(__file__).resolve().parents[1] / "cases"
REYNOLDS = (1, 5, 10, 20, 40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", type=Path, nargs="+", default=[Path("data/cyl-sobolev.pt")])
    parser.add_argument("--level", default="medium")
    parser.add_argument(
        "--curvature", default="exact", choices=("exact", "secant"), help="the trust region's model"
    )
    args = parser.parse_args()
    models = {path: surrogates.load(path) for path in args.surrogate}
    names = ", ".join(f"{path} ({model.meta['method']})" for path, model in models.items())
    print(f"Level {args.level}; surrogates: {names}\n")
    print(
        "| Re | surrogate | C_D circle | C_D adjoint | C_D surrogate+TR | difference | FEM solves adjoint "
        "| FEM solves TR | ratio | TR steps | KKT (TR) | to 0.5%: adjoint / TR | to 1e-4: adjoint / TR "
        "| to KKT ≤ 1e-4: adjoint / TR | seconds adjoint | seconds TR |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    totals = {path: [0, 0] for path in models}  # FEM solves: adjoint, TR
    for re in REYNOLDS:
        case = load_case(CASES / "fourier4-re40.toml").with_overrides(level=args.level, re=re)  # narrow space
        adjoint = optimize_slsqp(ReducedFunctional(DragProblem(case)))
        for path, model in models.items():
            problem = DragProblem(case)
            model.check_compatible(parameter_spec(problem.case), problem.flow_mesh.sha256, (case.re, case.re))
            trust = optimize_surrogate(
                ReducedFunctional(problem), model, TrustRegionSettings(curvature=args.curvature)
            )
            a, t = adjoint.final.objective_value, trust.final.objective_value
            reach = {
                tol: [fem_solves_to_within(r.history, min(a, t), tol) for r in (adjoint, trust)]
                for tol in (5e-3, 1e-4)
            }
            kkt = [fem_solves_to_kkt(r.history, 1e-4) for r in (adjoint, trust)]
            totals[path][0] += adjoint.fem_solves
            totals[path][1] += trust.fem_solves
            print(
                f"| {re} | {path.stem} | {adjoint.initial.objective_value:.5f} | {a:.6f} | {t:.6f} "
                f"| {t / a - 1:+.1e} "
                f"| {adjoint.fem_solves} | {trust.fem_solves} | {trust.fem_solves / adjoint.fem_solves:.0%} "
                f"| {len(trust.history) - 1} "
                f"| {trust.history[-1].kkt_residual:.1e} | {reach[5e-3][0]} / {reach[5e-3][1]} "
                f"| {reach[1e-4][0]} / {reach[1e-4][1]} | {kkt[0]} / {kkt[1]} "
                f"| {adjoint.seconds:.1f} | {trust.seconds:.1f} |",
                flush=True,
            )
    print()
    for path, (adjoint_solves, trust_solves) in totals.items():
        print(
            f"Total {path.stem}: adjoint {adjoint_solves} FEM solves, surrogate + TR {trust_solves} "
            f"({trust_solves / adjoint_solves:.0%})"
        )


if __name__ == "__main__":
    main()
