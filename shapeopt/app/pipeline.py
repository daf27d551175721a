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

from shapeopt.app.optimizers import refuse_operating_range
from shapeopt.app.runs import write_run
from shapeopt.app.settings import RunSettings
from shapeopt.app.surrogate_route import SurrogateRoute, trained_on
from shapeopt.cases import Case
from shapeopt.data.dataset import generate
from shapeopt.data.training import train_for_case
from shapeopt.design.functional import ReducedFunctional, ShapeSummary
from shapeopt.design.results import OptimizationResult
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.errors import CaseError
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem
from shapeopt.files import staged_folder
from surrogates.datafile import read_dataset
from surrogates.settings import TrainSettings


@dataclass(frozen=True)
class RunOutcome:
    """What the pipeline produced: the dataset and surrogate files (and whether they were reused), the
    dataset's generation summary, the training metrics, the optimization, and the seconds of each stage."""

    dataset: Path
    surrogate: Path
    dataset_reused: bool
    surrogate_reused: bool
    dataset_summary: dict
    training: dict
    result: OptimizationResult
    problem: DragProblem
    seconds: dict
    summary: dict  # what summary.json holds


def run_pipeline(case: Case, settings: RunSettings, out: Path, log=print) -> RunOutcome:
    """Build or reuse the dataset and surrogate of `case`, optimize with FEM-verified trust regions, and
    write the run directory `out` (the optimization's files, with report.md; it replaces an earlier run
    there whole when complete: `staged_folder`). Serial: the dataset stage runs `settings.workers`
    processes."""
    refuse_operating_range(case, "run")
    if MPI.COMM_WORLD.size > 1:
        raise CaseError("`run` is serial; give the dataset stage processes with --workers")
    if settings.problems():
        raise ValueError("; ".join(settings.problems()))
    seconds: dict[str, float] = {}
    data_case = case if case.re_range else dataclasses.replace(case, re_range=(case.re, case.re))
    tag = f"{case.name}-{case.level}-n{settings.samples}-seed{settings.seed}"
    data_path = settings.data_dir / f"{tag}.h5"
    model_path = settings.data_dir / f"{tag}-{settings.train_method}.pt"

    start = time.perf_counter()
    log(f"dataset {data_path} ({settings.samples} samples)")
    data_summary = generate(data_case, data_path, settings.samples, settings.seed, settings.workers)
    seconds["dataset"] = time.perf_counter() - start
    J = ReducedFunctional(DragProblem(case, MPI.COMM_SELF))

    start = time.perf_counter()
    route, reused_model, training = _surrogate_for(data_case, settings, J, data_path, model_path, log)
    seconds["training"] = time.perf_counter() - start

    start = time.perf_counter()
    log("surrogate search and FEM-verified trust-region refinement")
    search = TrustRegionSettings(seed=settings.seed, global_samples=settings.search_samples)
    result, _ = route.optimize(J, search, known=route.trained_designs())
    seconds["optimization"] = time.perf_counter() - start
    extra = {
        "dataset": str(data_path),
        "surrogate": str(model_path),
        "dataset_reused": data_summary["computed"] == 0,
        "surrogate_reused": reused_model,
        "training": training,
        "stage_seconds": seconds,
    }
    with staged_folder(out) as work:  # `out` is replaced whole when the run is complete
        outcome = RunOutcome(
            dataset=data_path,
            surrogate=model_path,
            dataset_reused=extra["dataset_reused"],
            surrogate_reused=reused_model,
            dataset_summary=data_summary,
            training=training,
            result=result,
            problem=J.problem,
            seconds=seconds,
            summary=write_run(result, J, work, MPI.COMM_SELF, extra),
        )
        (work / "report.md").write_text(report_markdown(outcome))
    return outcome


def _surrogate_for(
    data_case: Case, settings: RunSettings, J: ReducedFunctional, data_path: Path, model_path: Path, log
) -> tuple[SurrogateRoute, bool, dict]:
    """The surrogate at `model_path` if it matches (`matching_surrogate`), else one trained on the
    dataset at `data_path` and written there. Returns its route, whether it was reused, and its test
    metrics."""
    train_settings = settings.train_settings()
    route, reused = matching_surrogate(model_path, J, data_path, train_settings)
    if route is not None:
        return route, reused, route.model.meta.get("metrics", {})
    log(
        f"training {model_path} ({settings.train_method}, ≤ {settings.epochs} epochs, "
        f"≤ {settings.budget_seconds:g} s)"
    )
    result = train_for_case(data_case, data_path, train_settings, model_path, settings.workers)
    return SurrogateRoute.open(model_path), False, result.metrics


# Settings that define what a surrogate is (not how long it trained: `--refit` fine-tunes with others).
RECIPE = ("method", "gamma", "beta", "width", "depth", "pod_modes", "pod_energy")


def matching_surrogate(
    path: Path, J: ReducedFunctional, data_path: Path, settings: TrainSettings
) -> tuple[SurrogateRoute | None, bool]:
    """The route of the stored surrogate if it fits the case (`SurrogateRoute.check`), was trained on
    `data_path` with the same recipe (`RECIPE`) as `settings`, and whether it does; else (None, False)."""
    if not path.is_file():
        return None, False
    try:
        route = SurrogateRoute.open(path)
        route.check(J.problem, [J.re])
    except CaseError:
        return None, False
    model = route.model
    if trained_on(model, path) != Path(data_path).absolute() or model.meta.get("dataset_rows") != len(
        read_dataset(data_path)
    ):
        return None, False  # trained on another (or a shorter) dataset
    stored = model.meta.get("settings", {})
    if any(stored.get(key) != getattr(settings, key) for key in RECIPE):
        return None, False  # trained with another loss or architecture
    return route, True


def report_markdown(outcome: RunOutcome) -> str:
    """`report.md`: numbers and pictures of the run."""
    r, case = outcome.result, outcome.problem.case
    i, f = r.initial, r.final
    m = outcome.training
    lines = [
        f"# {case.name}: drag reduction at Re {case.re:g} (level {case.level})",
        "",
        f"| | {f.objective} (FEM) | area ratio | centroid |",
        "|---|---|---|---|",
        f"| initial | {i.objective_value:.6f} | {i.area_ratio:.10f} | {np.round(i.centroid, 12).tolist()} |",
        f"| optimized | {f.objective_value:.6f} | {f.area_ratio:.10f} "
        f"| {np.round(f.centroid, 12).tolist()} |",
        "",
        *_bodies_table(f),
        f"Change {f.objective_value / i.objective_value - 1:+.2%}. {r.message}; "
        f"{len(r.history) - 1} trust-region steps, "
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
        + ", ".join(f"{n} = {v:.5f}" for n, v in zip(outcome.problem.space.names(), f.s, strict=True)),
        "",
        "![initial and optimized shape](shapes.png)",
        "",
        "![flow around the optimized body](flow.png)",
        "",
        "![trust-region history](history.png)",
        "",
    ]
    return "\n".join(lines)


def _bodies_table(final: ShapeSummary) -> list[str]:
    """Markdown lines of each body's optimized coefficients and geometry (none for one body)."""
    if not final.bodies:
        return []
    lines = ["| body | centre | C_D | C_L | area ratio | length/height | tip angles front / rear |"]
    lines.append("|---|---|---|---|---|---|---|")
    for k, body in enumerate(final.bodies, 1):
        lines.append(
            f"| {k} | {tuple(body['center'])} | {body['cd']:.6f} | {body['cl']:+.6f} | "
            f"{body['area_ratio']:.10f} | {body['length'] / body['height']:.2f} | "
            f"{body['front']:.0f}° / {body['rear']:.0f}° |"
        )
    return [*lines, ""]
