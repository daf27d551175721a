"""Commands of the learning side: `dataset`, `train`, `bench-train`, and `run` (the whole pipeline)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shapeopt.cases import Case
from shapeopt.cli.common import load_args, optimize_text, report, status_line, write_run
from shapeopt.errors import CaseError


def dataset_command(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.dataset import generate

    comm = MPI.COMM_WORLD
    case = load_args(args)
    if args.samples < 1 or args.workers < 1:
        raise CaseError("--samples and --workers must be ≥ 1")

    def progress(p) -> None:
        status_line(
            f"[{p.stored}/{args.samples}] {p.done} computed here, {p.failed} failed, "
            f"{p.seconds / max(p.done, 1):.2f} s/sample, ETA {p.eta:.0f} s"
        )

    try:
        summary = generate(case, args.out, args.samples, args.seed, args.workers, progress, comm)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    summary |= {"out": str(args.out), "case": case.name, "level": case.level}
    text = (
        f"{args.out}: {summary['computed']} samples computed ({summary['failed']} failed) in "
        f"{summary['seconds']:.1f} s; {args.samples} requested"
    )
    report(args, summary, text, comm.rank)
    return 0


def train_command(args: argparse.Namespace) -> int:
    from surrogates.train import PHYSICS_METHODS, TrainSettings, train

    case = load_args(args)
    data = _read_dataset_for(case, args.data)
    settings = TrainSettings(
        method=args.method,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        **({} if args.gradient_weight is None else {"gamma": args.gradient_weight}),
        seed=args.seed,
        budget_seconds=args.budget_seconds,
        device=args.device,
        tau=args.tau,
        newton_steps=args.newton_steps,
        step_size=args.step_size,
    )
    every = 100 if args.method not in PHYSICS_METHODS else 1

    def progress(item: dict) -> None:
        if item["epoch"] % every == 0:
            status_line(
                f"epoch {item['epoch']:5d}  validation loss {item['validation_loss']:.3e}  "
                f"C_D error {item['validation_cd_error']:.2e}  {item['seconds']:.0f} s"
            )

    def fit(physics=None):
        return train(
            data, settings, {"case": case.name, "dataset": str(args.data)}, progress, physics=physics
        )

    try:
        if args.method in PHYSICS_METHODS:
            from shapeopt.physics_pool import open_physics

            with open_physics(case, args.workers, data.mesh_sha256) as physics:
                result = fit(physics)
        else:
            result = fit()
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    result.surrogate.save(args.out)
    m = result.metrics
    out = {"out": str(args.out), "method": args.method, "metrics": m}
    extra = ""
    if "svd_time_share" in m:
        share, megabytes = 100 * m["svd_time_share"], m["jacobian_bytes"] / 1e6
        extra = f"\n  SVD {share:.0f}% of the time, Jacobian and SVD {megabytes:.0f} MB"
    text = (
        f"{args.out}: {args.method}, {m['epochs']} epochs in {m['train_seconds']:.0f} s, "
        f"{m['pod_modes']} POD modes\n"
        f"  test C_D relative error: median {m['cd_error_median']:.2e}, p95 {m['cd_error_p95']:.2e}, "
        f"max {m['cd_error_max']:.2e}\n"
        f"  median cosine(dC_D/ds surrogate, adjoint) {m['gradient_cosine_median']:.4f}, "
        f"median field error {m['field_error_median']:.2e} ({m['test_samples']} test samples)" + extra
    )
    report(args, out, text)
    return 0


def _read_dataset_for(case: Case, path: Path):
    """The dataset at `path`, refused unless it was made for the case's parametrisation and level."""
    from shapeopt.problem import shape_of
    from surrogates.data import read_dataset

    try:
        data = read_dataset(path)
    except (OSError, KeyError) as exc:
        raise CaseError(f"cannot read dataset {path}: {exc}") from None
    shape = shape_of(case)
    expected = {"kind": shape.kind, "modes": shape.modes, "names": shape.names()}
    if {k: data.spec.get(k) for k in expected} != expected or data.case.get("level") != case.level:
        raise CaseError(
            f"{path} was made for another parametrisation or mesh level than case '{case.name}' "
            f"at level {case.level}"
        )
    return data


def bench_train_command(args: argparse.Namespace) -> int:
    from shapeopt.training_bench import bench_train
    from surrogates.train import METHODS

    case = load_args(args)
    _read_dataset_for(case, args.data)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CaseError(f"unknown training method {unknown[0]!r} (expected some of {', '.join(METHODS)})")
    try:
        rows = bench_train(case, args.data, args.out, args.budget_seconds, methods, args.workers, status_line)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    report(
        args,
        {"out": str(args.out), "methods": [r["method"] for r in rows], "rows": rows},
        (args.out / "table.md").read_text() + f"{args.out / 'validation-error.png'}",
    )
    return 0


def run_command(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.pipeline import RunSettings, report_markdown, run_pipeline

    comm = MPI.COMM_WORLD
    if comm.size > 1:
        raise CaseError("`run` is serial; give the dataset stage processes with --workers")
    case = load_args(args)
    out = args.out or Path("runs") / case.name
    settings = RunSettings(
        samples=args.samples,
        workers=args.workers,
        seed=args.seed,
        epochs=args.epochs,
        budget_seconds=args.budget_seconds,
        search_samples=args.search_samples,
    )
    try:
        outcome = run_pipeline(case, settings, log=status_line)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    summary = write_run(outcome.result, outcome.problem, out, comm)
    summary |= {
        "dataset": str(outcome.dataset),
        "surrogate": str(outcome.surrogate),
        "dataset_reused": outcome.dataset_reused,
        "surrogate_reused": outcome.surrogate_reused,
        "training": outcome.training,
        "stage_seconds": outcome.seconds,
    }
    from shapeopt.output import write_json

    write_json(summary, out / "summary.json")
    (out / "report.md").write_text(report_markdown(outcome, out))
    report(args, summary, optimize_text(outcome.result, out) + ", report.md")
    return 0 if outcome.result.converged else 6
