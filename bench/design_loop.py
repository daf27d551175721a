"""Design loop in the wide design space: 20 least-drag problems by the surrogate route and by the adjoint.

Problems: Re ∈ {1.5, 3, 6, 12, 25} × (area ratio 1.0, 0.9, 1.1, and 1.0 with a minimum thickness of
0.7 D), on cases/wide-re1-40.toml (24 B-spline coefficients).

Surrogate route, every FEM solve counted: a dataset over Re 1–40, Sobolev training, then per problem the
FEM-verified trust region, whose samples (each one FEM solve with its adjoint) are appended to the
dataset before the surrogate is fine-tuned on it for the next problem. Adjoint route: SLSQP with FEM
adjoint gradients from the circle, per problem.

`OMP_NUM_THREADS=1 .venv/bin/python bench/design_loop.py --level coarse --samples 128 --out runs/loop`
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import surrogates
from shapeopt.cases import load_case
from shapeopt.data.dataset import generate, sample_row
from shapeopt.data.verified import append_verified, refit_surrogate
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.slsqp import optimize_slsqp
from shapeopt.design.surrogate_search import optimize_surrogate
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.designs import sample_identity
from shapeopt.fem.problem import DragProblem
from surrogates.datafile import read_dataset
from surrogates.settings import TrainSettings
from surrogates.train import train

CASE = Path(__file__).resolve().parents[1] / "cases" / "wide-re1-40.toml"
VARIANTS = ((1.0, 0.0), (0.9, 0.0), (1.1, 0.0), (1.0, 0.7))  # (area ratio, minimum thickness in D)
PROBLEMS = [(re, ratio, thickness) for re in (1.5, 3.0, 6.0, 12.0, 25.0) for ratio, thickness in VARIANTS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="coarse")
    parser.add_argument("--samples", type=int, default=128, help="dataset size before the first problem")
    parser.add_argument("--train-seconds", type=float, default=120.0)
    parser.add_argument("--refit-seconds", type=float, default=30.0)
    parser.add_argument("--search-samples", type=int, default=2**14)
    parser.add_argument("--search-radius", type=float, default=TrustRegionSettings.search_radius)
    parser.add_argument("--problems", type=int, default=len(PROBLEMS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--curvature", default="exact", choices=("exact", "secant"), help="the trust region's model"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/loop"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = load_case(CASE).with_overrides(level=args.level)
    data_path, model_path = args.out / "data.h5", args.out / "surrogate.pt"

    start = time.perf_counter()
    dataset = generate(base, data_path, args.samples, workers=args.workers)
    data_seconds = time.perf_counter() - start
    data_solves = len(read_dataset(data_path)) + read_dataset(data_path).failed
    start = time.perf_counter()
    if not model_path.is_file():
        settings = TrainSettings(method="sobolev", budget_seconds=args.train_seconds)
        result = train(read_dataset(data_path), settings, {"case": base.name, "dataset": str(data_path)})
        result.surrogate.save(model_path)
    train_seconds = time.perf_counter() - start
    print(
        f"dataset: {data_solves} FEM solves ({dataset['computed']} now, {data_seconds:.0f} s); "
        f"training {train_seconds:.0f} s; level {args.level}\n"
    )
    print(
        "| Re | area ratio | min thickness | C_D adjoint | C_D surrogate route | difference | KKT TR "
        "| FEM adjoint | FEM TR | s adjoint | s TR + refit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    totals = dict(adjoint_fem=0, tr_fem=0, adjoint_s=0.0, tr_s=0.0, worst=0.0, converged=0)
    for re, ratio, thickness in PROBLEMS[: args.problems]:
        case = dataclasses.replace(
            base,
            re=re,
            re_range=None,
            constraints=dataclasses.replace(base.constraints, area_ratio=ratio, min_thickness=thickness),
        )
        start = time.perf_counter()
        adjoint = optimize_slsqp(ReducedFunctional(DragProblem(case)))
        adjoint_seconds = time.perf_counter() - start

        start = time.perf_counter()
        J = ReducedFunctional(DragProblem(case))
        rows: list[dict] = []
        model = surrogates.load(model_path)
        trust = optimize_surrogate(
            J,
            model,
            TrustRegionSettings(
                global_samples=args.search_samples, search_radius=args.search_radius, curvature=args.curvature
            ),
            verified=lambda evaluation, state, rows=rows: rows.append(sample_row(evaluation, state)),
            known=read_dataset(data_path).s,
        )
        identity = sample_identity(case) | {"mesh_sha256": J.problem.flow_mesh.sha256}
        append_verified(data_path, rows, identity)
        refit_surrogate(model, model_path, data_path, budget_seconds=args.refit_seconds)
        trust_seconds = time.perf_counter() - start

        a, t = adjoint.final.objective_value, trust.final.objective_value
        kkt = trust.history[-1].kkt_residual
        totals["adjoint_fem"] += adjoint.fem_solves
        totals["tr_fem"] += trust.fem_solves
        totals["adjoint_s"] += adjoint_seconds
        totals["tr_s"] += trust_seconds
        totals["worst"] = max(totals["worst"], t / a - 1)
        totals["converged"] += trust.converged
        print(
            f"| {re:g} | {ratio:g} | {thickness:g} | {a:.6f} | {t:.6f} | {t / a - 1:+.1e} | {kkt:.1e} "
            f"| {adjoint.fem_solves} | {trust.fem_solves} | {adjoint_seconds:.0f} | {trust_seconds:.0f} |",
            flush=True,
        )
    route = data_solves + totals["tr_fem"]
    print(
        f"\nTotals over {args.problems} problems: adjoint {totals['adjoint_fem']} FEM solves, "
        f"{totals['adjoint_s']:.0f} s. Surrogate route {route} FEM solves (dataset {data_solves} + trust "
        f"region {totals['tr_fem']}), {data_seconds + train_seconds + totals['tr_s']:.0f} s (dataset "
        f"{data_seconds:.0f}, training {train_seconds:.0f}, trust region and refits {totals['tr_s']:.0f}); "
        f"ratio {route / totals['adjoint_fem']:.2f}. Trust region converged (KKT ≤ 1e-4) in "
        f"{totals['converged']} of {args.problems}; largest C_D excess over the adjoint "
        f"{totals['worst']:+.1e}."
    )


if __name__ == "__main__":
    main()
