"""The surrogate route in the DFG channel at Re 40 (coarse) with the trust region's remeshing on and off.

One dataset of 64 samples and one Sobolev surrogate (90 s of training), then `optimize_surrogate` from the
surrogate's optima twice: with `TrustRegionSettings(remesh=False)` and with the default. A start the
reference mesh cannot follow is meshed for directly in both (`evaluate_start`). Prints a markdown table:
remeshing, C_D, FEM solves, refused shapes, meshes generated, seconds, the stop.

    OMP_NUM_THREADS=1 .venv/bin/python bench/remesh_surrogate_route.py --out runs/channel-route
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from shapeopt.cases import load_case
from shapeopt.data.dataset import generate
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.surrogate_search import optimize_surrogate
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.fem.problem import DragProblem
from surrogates.datafile import read_dataset
from surrogates.settings import TrainSettings
from surrogates.train import train

CASE = Path(__file__).resolve().parents[1] / "cases" / "dfg-2d1-optimize-re40.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the dataset")
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    case = load_case(CASE).with_overrides(level="coarse")
    args.out.mkdir(parents=True, exist_ok=True)
    data_file = args.out / "data.h5"
    if not data_file.exists():
        generate(case, data_file, args.samples)
    settings = TrainSettings(method="sobolev", epochs=100000, batch=16, budget_seconds=90)
    model = train(read_dataset(data_file), settings, {"case": case.name}).surrogate
    print("| remeshing | C_D | FEM solves | refused | meshes generated | s | stop |")
    print("|---|---|---|---|---|---|---|")
    for remesh in (False, True):
        with DragProblem(case) as problem:
            start = time.perf_counter()
            result = optimize_surrogate(ReducedFunctional(problem), model, TrustRegionSettings(remesh=remesh))
            print(
                f"| {'on' if remesh else 'off'} | {result.final.objective_value:.6f} | {result.fem_solves} | "
                f"{result.refused} | {len(result.remeshes)} | {time.perf_counter() - start:.1f} | "
                f"{result.message} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
