"""Commands of the learning side: `dataset`, `train`, `bench-train`, and `run` (the whole pipeline)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shapeopt.cli.common import (
    load_args,
    optimize_text,
    options_for,
    print_result,
    refuse_problems,
    status_line,
)
from shapeopt.cli.progress import ProgressLine, dataset_progress, training_progress
from shapeopt.data.settings import DatasetSettings, PhysicsSettings, sample_count_problems
from shapeopt.errors import CaseError
from shapeopt.files import (
    check_output_file,
    check_output_folder,
    check_run_folder,
)


def dataset_command(args: argparse.Namespace) -> int:
    from shapeopt.data.dataset import generate
    from shapeopt.fem import MPI

    comm = MPI.COMM_WORLD
    settings = DatasetSettings(**options_for(args, DatasetSettings))
    refuse_problems(args, sample_count_problems(args.samples) + settings.problems())
    case = load_args(args)
    check_output_file(args.out, "samples.h5", inputs=[args.case])  # an existing dataset is resumed

    try:
        with ProgressLine() as line:
            progress = dataset_progress(line, args.samples)
            summary = generate(case, args.out, args.samples, args.seed, args.workers, progress, comm)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    summary |= {"out": str(args.out), "case": case.name, "level": case.level}
    text = (
        f"{args.out}: {summary['computed']} samples computed ({summary['failed']} failed) in "
        f"{summary['seconds']:.1f} s; {args.samples} requested"
    )
    print_result(args, summary, text, comm.rank)
    return 0


def train_command(args: argparse.Namespace) -> int:
    from shapeopt.data.training import train_for_case
    from surrogates.settings import TrainSettings, settings_for

    case = load_args(args)
    check_output_file(args.out, "surrogate.pt", inputs=[args.case, args.data])
    settings = settings_for(**options_for(args, TrainSettings))
    refuse_problems(args, settings.problems() + PhysicsSettings(workers=args.workers).problems())
    with ProgressLine() as line:
        progress = training_progress(line, settings.epochs, settings.budget_seconds)
        result = train_for_case(case, args.data, settings, args.out, args.workers, progress)
    m = result.metrics
    extra = ""
    if "step_seconds" in m:
        t = m["step_seconds"]
        extra = (
            f"\n  per step on {t['device']} (median): network {t['network']:.3f} s, "
            f"physics {t['physics']:.3f} s, SVD/eigh {t['svd']:.3f} s, update {t['update']:.3f} s, "
            f"step {t['total']:.3f} s"
        )
    if "jacobian_bytes" in m:
        extra += f"\n  joint Jacobian and its decomposition: {m['jacobian_bytes'] / 1e6:.0f} MB"
    text = (
        f"{args.out}: {args.method}, {m['epochs']} epochs in {m['train_seconds']:.0f} s, "
        f"{m['pod_modes']} POD modes\n"
        f"  test C_D relative error: median {m['cd_error_median']:.2e}, p95 {m['cd_error_p95']:.2e}, "
        f"max {m['cd_error_max']:.2e}\n"
        f"  median cosine(dC_D/ds surrogate, adjoint) {m['gradient_cosine_median']:.4f}, "
        f"median gradient error {m['gradient_error_median']:.2e}, "
        f"median field error {m['field_error_median']:.2e} ({m['test_samples']} test samples); "
        f"stopped: {m['stop']}" + extra
    )
    print_result(args, {"out": str(args.out), "method": args.method, "metrics": m}, text)
    return 0


def bench_train_command(args: argparse.Namespace) -> int:
    from shapeopt.data.training_bench import bench_train, parse_entry

    case = load_args(args)
    check_output_folder(args.out, inputs=[args.case, args.data])
    entries = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    refuse_problems(
        args,
        PhysicsSettings(**options_for(args, PhysicsSettings)).problems()
        + ([] if entries else [f"--methods names no training method: {args.methods!r}"]),
    )
    try:
        for entry in entries:
            parse_entry(entry)
        rows = bench_train(
            case, args.data, args.out, args.budget_seconds, entries, args.workers, status_line, args.schedule
        )
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    print_result(
        args,
        {"out": str(args.out), "methods": [r["method"] for r in rows], "rows": rows},
        (args.out / "table.md").read_text() + f"{args.out / 'validation-error.png'}",
    )
    return 0


def run_command(args: argparse.Namespace) -> int:
    from shapeopt.app.pipeline import RunSettings, run_pipeline

    settings = RunSettings(**options_for(args, RunSettings))
    refuse_problems(args, settings.problems())  # before the dataset is made
    case = load_args(args)
    out = args.out or Path("runs") / case.name
    check_run_folder(out, inputs=[args.case, settings.data_dir])  # the dataset and surrogate stay
    try:
        outcome = run_pipeline(case, settings, out, log=status_line)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    print_result(args, outcome.summary, optimize_text(outcome.result, out) + ", report.md")
    return 0 if outcome.result.converged else 6
