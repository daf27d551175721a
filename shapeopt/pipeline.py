"""`shapeopt run`: dataset → surrogate → surrogate-driven optimization → FEM verification → report.

A matching dataset (same case, level, samples, seed) and surrogate (compatible with the case's mesh,
parametrisation and Re, trained on that dataset) are reused when present.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

import surrogates
from shapeopt.cases import Case
from shapeopt.datafile import SampleFile
from shapeopt.dataset import generate, spec_of
from shapeopt.optimize import OptimizationResult
from shapeopt.problem import DragProblem
from shapeopt.trust_region import TrustRegionSettings, optimize_surrogate
from surrogates.data import read_dataset
from surrogates.train import TrainSettings, train


@dataclass
class RunSettings:
    """Sizes of the quick pipeline: dataset samples, workers, training epochs and budget."""

    samples: int = 96
    workers: int = 2
    seed: int = 0
    epochs: int = 2000
    budget_seconds: float = 300.0
    search_samples: int = 2**17
    data_dir: Path = Path("data")  # dataset and trained surrogate


@dataclass
class RunOutcome:
    """What the pipeline produced, with the time of each stage."""

    dataset: Path
    surrogate: Path
    dataset_reused: bool
    surrogate_reused: bool
    dataset_summary: dict
    training: dict
    result: OptimizationResult
    problem: DragProblem
    seconds: dict


def run_pipeline(case: Case, settings: RunSettings, log=print, comm: MPI.Comm = MPI.COMM_SELF) -> RunOutcome:
    """Build or reuse the dataset and surrogate of `case`, then optimize with FEM-verified trust regions."""
    seconds: dict[str, float] = {}
    data_case = case if case.re_range else dataclasses.replace(case, re_range=(case.re, case.re))
    tag = f"{case.name}-{case.level}-n{settings.samples}-seed{settings.seed}"
    data_path = settings.data_dir / f"{tag}.h5"
    model_path = settings.data_dir / f"{tag}-sobolev.pt"

    start = time.perf_counter()
    log(f"dataset {data_path} ({settings.samples} samples)")
    summary = generate(data_case, data_path, settings.samples, settings.seed, settings.workers)
    seconds["dataset"] = time.perf_counter() - start
    problem = DragProblem(case, comm)

    start = time.perf_counter()
    train_settings = TrainSettings(
        method="sobolev", epochs=settings.epochs, seed=settings.seed, budget_seconds=settings.budget_seconds
    )
    model, reused_model = _matching_surrogate(model_path, problem, data_path, train_settings)
    training: dict = {}
    if model is None:
        log(f"training {model_path} (sobolev, ≤ {settings.epochs} epochs, ≤ {settings.budget_seconds:g} s)")
        data = read_dataset(data_path)
        result = train(
            data, train_settings, {"case": case.name, "dataset": str(data_path), "dataset_rows": len(data)}
        )
        result.surrogate.save(model_path)
        model, training = surrogates.load(model_path), result.metrics
    else:
        training = model.meta.get("metrics", {})
    seconds["training"] = time.perf_counter() - start

    start = time.perf_counter()
    log("surrogate search and FEM-verified trust-region refinement")
    outcome = optimize_surrogate(
        problem, model, TrustRegionSettings(seed=settings.seed, global_samples=settings.search_samples)
    )
    seconds["optimization"] = time.perf_counter() - start
    return RunOutcome(
        data_path,
        model_path,
        summary["computed"] == 0,
        reused_model,
        summary,
        training,
        outcome,
        problem,
        seconds,
    )


VERIFIED_INDEX = 1_000_000  # dataset indices of FEM-verified optimizer samples start here


def append_verified(data_path: Path, rows: list[dict]) -> int:
    """Append FEM-verified samples (rows as `compute_sample` makes them) to a dataset; returns the count."""
    writer = SampleFile.open_existing(data_path)
    try:
        first = VERIFIED_INDEX + sum(i >= VERIFIED_INDEX for i in writer.done())
        for k, row in enumerate(rows):
            writer.append(row | {"index": first + k})
    finally:
        writer.close()
    return len(rows)


def refit_surrogate(
    model_path: Path, data_path: Path, epochs: int = 500, budget_seconds: float = 120.0
) -> dict:
    """Fine-tune a surrogate on its (grown) dataset from its current weights; returns the test metrics."""
    model = surrogates.load(model_path)
    data = read_dataset(data_path)
    settings = TrainSettings(
        **(
            model.meta.get("settings", {})
            | {"epochs": epochs, "budget_seconds": budget_seconds, "lr": 2e-4, "device": "cpu"}
        )
    )
    result = train(data, settings, model.meta | {"dataset_rows": len(data)}, initial=model)
    result.surrogate.save(model_path)
    return result.metrics


def verified_row(evaluation, state: np.ndarray) -> dict:
    """A dataset row from an FEM evaluation with gradients and its state."""
    return {
        "status": 0,
        "s": evaluation.s,
        "re": evaluation.re,
        "cd": evaluation.cd,
        "cl": evaluation.cl,
        "dcd": evaluation.dcd,
        "dcl": evaluation.dcl,
        "state": state,
        "newton_iterations": evaluation.newton_iterations,
        "quality": evaluation.quality,
        "seconds": evaluation.seconds,
    }


# Settings that define what a surrogate is (not how long it trained: `--refit` fine-tunes with others).
RECIPE = ("method", "gamma", "beta", "width", "depth", "pod_modes", "pod_energy")


def _matching_surrogate(path: Path, problem: DragProblem, data_path: Path, settings: TrainSettings):
    """The stored surrogate if it fits the case, was trained on `data_path` with the same recipe (`RECIPE`)
    as `settings`, else (None, False)."""
    if not path.is_file():
        return None, False
    try:
        model = surrogates.load(path)
        model.check_compatible(spec_of(problem), problem.flow_mesh.sha256, (problem.case.re, problem.case.re))
    except surrogates.IncompatibleSurrogateError:
        return None, False
    if model.meta.get("dataset") != str(data_path) or model.meta.get("dataset_rows") != len(
        read_dataset(data_path)
    ):
        return None, False  # trained on another (or a shorter) dataset
    stored = model.meta.get("settings", {})
    if any(stored.get(key) != getattr(settings, key) for key in RECIPE):
        return None, False  # trained with another loss or architecture
    return model, True


def report_markdown(outcome: RunOutcome, out: Path) -> str:
    """`report.md`: numbers and pictures of the run."""
    r, case = outcome.result, outcome.problem.case
    i, f = r.initial, r.final
    m = outcome.training
    lines = [
        f"# {case.name}: drag reduction at Re {case.re:g} (level {case.level})",
        "",
        "| | C_D (FEM) | area ratio | centroid |",
        "|---|---|---|---|",
        f"| initial | {i['cd']:.6f} | {i['area_ratio']:.10f} | {np.round(i['centroid'], 12).tolist()} |",
        f"| optimized | {f['cd']:.6f} | {f['area_ratio']:.10f} | {np.round(f['centroid'], 12).tolist()} |",
        "",
        f"Change {f['cd'] / i['cd'] - 1:+.2%}. {r.message}; {len(r.history) - 1} trust-region steps, "
        f"{r.fem_solves} FEM solves with adjoint gradients, "
        f"{r.search.get('extra', {}).get('surrogate_queries', 0)} surrogate queries in the search.",
        "",
        f"Dataset `{outcome.dataset}` ({'reused' if outcome.dataset_reused else 'built'}: "
        f"{outcome.dataset_summary['computed']} samples computed now, "
        f"{outcome.dataset_summary['failed']} failed, "
        f"{outcome.seconds['dataset']:.0f} s). Surrogate `{outcome.surrogate}` "
        f"({'reused' if outcome.surrogate_reused else 'trained'}, {outcome.seconds['training']:.0f} s): "
        f"test C_D error median {m.get('cd_error_median', float('nan')):.2e}, max "
        f"{m.get('cd_error_max', float('nan')):.2e}, "
        f"gradient cosine {m.get('gradient_cosine_median', float('nan')):.3f}."
        f" Optimization {outcome.seconds['optimization']:.0f} s.",
        "",
        "Optimized parameters: "
        + ", ".join(f"{n} = {v:.5f}" for n, v in zip(outcome.problem.shape.names(), f["s"], strict=True)),
        "",
        "![initial and optimized shape](shapes.png)",
        "",
        "![flow around the optimized body](flow.png)",
        "",
        "![trust-region history](history.png)",
        "",
    ]
    return "\n".join(lines)
