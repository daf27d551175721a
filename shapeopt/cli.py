"""Command line: `shapeopt <command> CASE [options]`. Parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from shapeopt.cases import LEVELS, Case, load_case
from shapeopt.errors import CaseError, ShapeoptError


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 success, 2 bad case, 3 solver failure, ...)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ShapeoptError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shapeopt", description="Drag of bodies in steady laminar flow, and its reduction."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    solve = commands.add_parser("solve", help="solve the steady flow of a case; print C_D, C_L")
    _add_case_arguments(solve)
    solve.add_argument("--re", type=float, help="override the case's Reynolds number")
    solve.add_argument("--out", type=Path, help="write fields (VTX), a PNG and summary.json here")
    solve.add_argument("--shape", type=Path, help="shape.json to solve for (morphs the reference mesh)")
    solve.set_defaults(run=_solve)

    gradient = commands.add_parser("gradient", help="adjoint dC_D/ds (and dC_L/ds) of a shape")
    _add_case_arguments(gradient)
    gradient.add_argument("--shape", type=Path, help="shape.json (default: the reference circle)")
    gradient.add_argument("--check", action="store_true", help="Taylor test in a random direction")
    gradient.add_argument("--seed", type=int, default=0, help="seed of the Taylor-test direction")
    gradient.set_defaults(run=_gradient)

    optimize = commands.add_parser("optimize", help="minimise C_D under the case's constraints")
    _add_case_arguments(optimize)
    optimize.add_argument(
        "--method",
        choices=["adjoint", "surrogate"],
        default="adjoint",
        help="adjoint: SLSQP on the FEM drag with adjoint gradients; surrogate: search the surrogate, "
        "then FEM-verified trust-region refinement",
    )
    optimize.add_argument("--surrogate", type=Path, help="trained surrogate (.pt) for --method surrogate")
    optimize.add_argument(
        "--refit",
        action="store_true",
        help="append the FEM-verified samples to the surrogate's dataset and fine-tune it",
    )
    optimize.add_argument("--shape", type=Path, help="initial shape.json (default: the circle)")
    optimize.add_argument("--out", type=Path, required=True, help="run directory")
    optimize.set_defaults(run=_optimize)

    dataset = commands.add_parser("dataset", help="FEM samples (s, Re, C_D, C_L, gradients, state) to HDF5")
    _add_case_arguments(dataset)
    dataset.add_argument("--samples", type=int, required=True, help="number of samples (resumes)")
    dataset.add_argument("--out", type=Path, required=True, help="HDF5 file")
    dataset.add_argument("--seed", type=int, default=0, help="seed of the Sobol design")
    dataset.add_argument("--workers", type=int, default=1, help="local worker processes (serial runs)")
    dataset.set_defaults(run=_dataset)

    run = commands.add_parser("run", help="dataset → surrogate → optimize → FEM verification → report.md")
    _add_case_arguments(run)
    run.add_argument("--out", type=Path, help="run directory (default runs/<case name>)")
    run.add_argument("--samples", type=int, default=96, help="dataset size (reused when present)")
    run.add_argument("--workers", type=int, default=2, help="local processes for the dataset")
    run.add_argument("--epochs", type=int, default=2000, help="training epochs (Sobolev)")
    run.add_argument("--budget-seconds", type=float, default=300.0, help="training wall-time budget")
    run.add_argument(
        "--search-samples", type=int, default=2**17, help="designs in the global surrogate search"
    )
    run.add_argument("--seed", type=int, default=0)
    run.set_defaults(run=_run)

    show = commands.add_parser("show", help="picture of an optimization run: flow, streamlines, outlines")
    show.add_argument(
        "directory", metavar="RUN", type=Path, help="run directory written by `shapeopt optimize`"
    )
    show.add_argument("--field", choices=["speed", "pressure"], default="speed")
    show.add_argument("--screenshot", type=Path, help="write a PNG off screen instead of opening a window")
    show.add_argument("--size", default="1600x800", help="image size WIDTHxHEIGHT in pixels")
    show.add_argument("--level", choices=LEVELS, help="mesh level of the flow shown (default: the run's)")
    show.add_argument("--out", type=Path, help="write DIR/show-FIELD.png off screen (as --screenshot)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(run=_show)

    train = commands.add_parser("train", help="train the drag surrogate on a dataset")
    _add_case_arguments(train)
    train.add_argument("--data", type=Path, required=True, help="HDF5 dataset from `shapeopt dataset`")
    train.add_argument(
        "--method",
        choices=["supervised", "sobolev", "dp", "pg", "hig"],
        default="supervised",
        help="dp: FEM residual of the predicted state as loss (Adam, gradients through Jᵀ); pg: Newton-step "
        "targets (Adam on the proxy loss); hig: half-inverse gradients of the joint Jacobian",
    )
    train.add_argument("--out", type=Path, required=True, help="surrogate file (.pt)")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    train.add_argument("--budget-seconds", type=float, default=600.0, help="wall-time budget of training")
    train.add_argument("--epochs", type=int, default=3000)
    train.add_argument("--batch", type=int, default=64)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--seed", type=int, default=0, help="seed of the split and the initial weights")
    train.add_argument("--tau", type=float, default=1e-5, help="hig: relative truncation of singular values")
    train.add_argument("--newton-steps", type=int, default=1, help="pg: Newton steps per target")
    train.add_argument("--step-size", type=float, default=1.0, help="pg: fraction of the Newton step taken")
    train.add_argument("--workers", type=int, default=2, help="dp/pg/hig: processes for the FEM physics")
    train.set_defaults(run=_train)

    bench = commands.add_parser(
        "bench-train", help="the five training methods on one dataset and wall-clock budget, side by side"
    )
    _add_case_arguments(bench)
    bench.add_argument("--data", type=Path, required=True, help="HDF5 dataset from `shapeopt dataset`")
    bench.add_argument("--budget-seconds", type=float, default=600.0, help="wall-time budget per method")
    bench.add_argument("--methods", default="supervised,sobolev,dp,pg,hig", help="comma-separated list")
    bench.add_argument("--workers", type=int, default=2, help="processes for the FEM physics")
    bench.add_argument("--out", type=Path, default=Path("runs/bench-train"), help="results; reruns resume")
    bench.set_defaults(run=_bench_train)
    return parser


def _add_case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", type=Path, help="case file (TOML)")
    parser.add_argument("--level", choices=LEVELS, help="mesh level (default: the case's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _load(args: argparse.Namespace, **overrides) -> Case:
    return load_case(args.case).with_overrides(level=args.level, **overrides)


def _solve(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.simulate import run_solve

    comm = MPI.COMM_WORLD
    case = _load(args, re=args.re)
    if args.shape is None:
        result, solver = run_solve(case, comm)
        summary = result.to_dict()
    else:
        from shapeopt.problem import DragProblem
        from shapeopt.simulate import summarize

        start = time.perf_counter()
        problem = DragProblem(case, comm)
        evaluation = problem.evaluate(_read_shape(args.shape, problem))
        solver = problem.solver
        result = summarize(case, problem.flow_mesh, solver, problem.report, time.perf_counter() - start)
        summary = result.to_dict() | {
            "shape": str(args.shape),
            "s": evaluation.s.tolist(),
            "mesh_quality": evaluation.quality,
        }
    if args.out is not None:
        from shapeopt.output import write_fields, write_json
        from shapeopt.pictures import render_speed

        fields = write_fields(solver, args.out)
        u, _ = solver.split()
        render_speed(
            u,
            solver.flow_mesh,
            args.out / "flow.png",
            _picture_window(case),
            title=f"{case.name}  Re={case.re:g}  C_D={result.cd:.6f}",
        )
        summary["files"] = [str(p) for p in fields] + [str(args.out / "flow.png")]
        write_json({"result": summary, "case": case.to_dict()}, args.out / "summary.json", comm.rank)
    if comm.rank == 0:
        print(json.dumps(summary) if args.json else _solve_text(summary))
    return 0


def _read_shape(path: Path, problem) -> np.ndarray:
    """Parameters from a shape.json, checked against the case's parametrisation."""
    try:
        data = json.loads(path.read_text())
        s = np.asarray(data["s"], dtype=float)
        kind, modes = data["parametrisation"], data["modes"]
    except FileNotFoundError:
        raise CaseError(f"shape file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CaseError(f"{path}: not a shape file ({exc.__class__.__name__}: {exc})") from None
    shape = problem.shape
    if (kind, modes) != (shape.kind, shape.modes) or s.shape != (shape.size,):
        raise CaseError(
            f"{path}: shape is {kind} with {modes} modes ({s.size} parameters), the case uses "
            f"{shape.kind} with {shape.modes} modes ({shape.size} parameters)"
        )
    return s


def _gradient(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.problem import DragProblem
    from shapeopt.verify import taylor_test

    comm = MPI.COMM_WORLD
    case = _load(args)
    problem = DragProblem(case, comm)
    s = np.zeros(problem.size) if args.shape is None else _read_shape(args.shape, problem)
    start = time.perf_counter()
    evaluation = problem.evaluate(s, gradient=True)
    out = {
        "case": case.name,
        "re": case.re,
        "level": case.level,
        "names": problem.shape.names(),
        "s": s.tolist(),
        "cd": evaluation.cd,
        "cl": evaluation.cl,
        "dcd_ds": evaluation.dcd.tolist(),
        "dcl_ds": evaluation.dcl.tolist(),
        "seconds": time.perf_counter() - start,
    }
    if args.check:
        taylor = {q: taylor_test(problem, s, q, seed=args.seed) for q in ("cd", "cl")}
        out["taylor"] = {
            q: {
                "steps": t.steps,
                "remainder_without_gradient": t.zeroth,
                "remainder_with_gradient": t.first,
                "rates": t.rates,
                "min_rate": t.min_rate,
            }
            for q, t in taylor.items()
        }
    if comm.rank == 0:
        print(json.dumps(out) if args.json else _gradient_text(out))
    return 0


def _gradient_text(out: dict) -> str:
    lines = [
        f"case {out['case']}  Re {out['re']:g}  level {out['level']}",
        f"  C_D {out['cd']:.8f}   C_L {out['cl']:.8f}",
        "  parameter        s       dC_D/ds      dC_L/ds",
    ]
    for name, s, dcd, dcl in zip(out["names"], out["s"], out["dcd_ds"], out["dcl_ds"], strict=True):
        lines.append(f"  {name:>9} {s:9.5f} {dcd:12.6f} {dcl:12.6f}")
    for q, t in out.get("taylor", {}).items():
        lines.append(f"  Taylor test of {q}: h, |C(s+hδ)-C(s)|, |C(s+hδ)-C(s)-h∇C·δ|, rate")
        rates = ["", *[f"{r:.3f}" for r in t["rates"]]]
        for h, r0, r1, rate in zip(
            t["steps"], t["remainder_without_gradient"], t["remainder_with_gradient"], rates, strict=True
        ):
            lines.append(f"    {h:9.2e} {r0:11.3e} {r1:11.3e}  {rate}")
        lines.append(f"    observed rate {t['min_rate']:.3f} (second order: 2)")
    lines.append(f"  {out['seconds']:.2f} s")
    return "\n".join(lines)


def _optimize(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.optimize import optimize_adjoint
    from shapeopt.output import write_json
    from shapeopt.problem import DragProblem

    comm = MPI.COMM_WORLD
    case = _load(args)
    problem = DragProblem(case, comm)
    s0 = None if args.shape is None else _read_shape(args.shape, problem)
    history: list[dict] = []

    def progress(item) -> None:
        history.append(item.__dict__)
        write_json(
            {"case": case.name, "method": args.method, "history": history},
            args.out / "history.json",
            comm.rank,
        )
        if comm.rank == 0:
            _progress(
                f"iter {item.iteration:3d}  C_D {item.cd:.8f}  violation {item.violation:.1e}  "
                f"|dC_D/ds| {item.gradient_norm:.2e}  KKT {item.kkt_residual:.1e}  "
                f"FEM solves {item.fem_solves}  {item.seconds:.1f} s"
            )

    if args.method == "surrogate":
        result = _surrogate_optimization(args.surrogate, args.out, problem, history, comm, args.refit)
    else:
        result = optimize_adjoint(problem, s0, progress)
    summary = _write_run(result, problem, args.out, comm)
    if comm.rank == 0:
        print(json.dumps(summary) if args.json else _optimize_text(result, args.out))
    return 0 if result.converged else 6


def _write_run(result, problem, out: Path, comm) -> dict:
    """shape.json, history.json, summary.json, flow.png, shapes.png, history.png of an optimization."""
    from shapeopt.output import write_json
    from shapeopt.pictures import render_speed
    from shapeopt.plots import plot_history, plot_shapes

    case = problem.case
    summary = result.to_dict() | {"case": case.to_dict()}
    summary.pop("history")
    write_json(result.final, out / "shape.json", comm.rank)
    history = [h.__dict__ for h in result.history]
    write_json(
        {"case": case.name, "method": result.method, "history": history}, out / "history.json", comm.rank
    )
    write_json(summary, out / "summary.json", comm.rank)
    problem.evaluate(np.asarray(result.final["s"]))
    u, _ = problem.solver.split()
    render_speed(
        u,
        problem.flow_mesh,
        out / "flow.png",
        _picture_window(case),
        title=f"{case.name} optimized  C_D={result.final['cd']:.5f}",
    )
    if comm.rank == 0:
        plot_shapes(
            problem.shape,
            [("initial", np.asarray(result.initial["s"])), ("optimized", np.asarray(result.final["s"]))],
            out / "shapes.png",
            title=f"Re {case.re:g}: C_D {result.initial['cd']:.4f} → {result.final['cd']:.4f}",
        )
        plot_history(history, out / "history.png", title=f"{case.name}, {result.method}")
    return summary


def _surrogate_optimization(
    surrogate_path: Path | None, out: Path, problem, history: list[dict], comm, refit: bool = False
):
    import surrogates
    from shapeopt.dataset import spec_of
    from shapeopt.output import write_json
    from shapeopt.pipeline import append_verified, refit_surrogate, verified_row
    from shapeopt.trust_region import optimize_surrogate

    if surrogate_path is None:
        raise CaseError("--method surrogate needs --surrogate FILE")
    try:
        model = surrogates.load(surrogate_path)
        model.check_compatible(spec_of(problem), problem.flow_mesh.sha256, (problem.case.re, problem.case.re))
    except FileNotFoundError:
        raise CaseError(f"surrogate file not found: {surrogate_path}") from None
    except surrogates.IncompatibleSurrogateError as exc:
        raise CaseError(f"{surrogate_path}: {exc}") from None

    def progress(step) -> None:
        history.append(step.__dict__)
        write_json(
            {"case": problem.case.name, "method": "surrogate", "history": history},
            out / "history.json",
            comm.rank,
        )
        if comm.rank == 0:
            _progress(
                f"step {step.iteration:3d}  C_D FEM {step.cd:.8f}  surrogate {step.surrogate_cd:.8f}  "
                f"radius {step.radius:.1e}  ratio {step.ratio:.2f}  KKT {step.kkt_residual:.1e}  "
                f"FEM solves {step.fem_solves}  {step.seconds:.1f} s"
            )

    rows: list[dict] = []
    dataset = Path(model.meta.get("dataset", ""))
    if refit and not dataset.is_file():
        raise CaseError(f"--refit: the surrogate's dataset {str(dataset) or '(none recorded)'} is not here")
    result = optimize_surrogate(
        problem,
        model,
        progress=progress,
        verified=(lambda e, w: rows.append(verified_row(e, w))) if refit else None,
    )
    if refit and comm.rank == 0:
        append_verified(dataset, rows)
        metrics = refit_surrogate(surrogate_path, dataset)
        _progress(
            f"refit: appended {len(rows)} verified samples to {dataset}; fine-tuned {surrogate_path}: "
            f"test C_D error median {metrics['cd_error_median']:.2e}, max {metrics['cd_error_max']:.2e}"
        )
    return result


def _optimize_text(result, out: Path) -> str:
    i, f = result.initial, result.final
    return "\n".join(
        [
            f"{result.method} optimization: {result.message}",
            f"  C_D {i['cd']:.6f} → {f['cd']:.6f} ({f['cd'] / i['cd'] - 1:+.2%}), "
            f"area ratio {f['area_ratio']:.10f}",
            f"  {len(result.history) - 1} iterations, {result.fem_solves} FEM solves, "
            f"{result.adjoint_solves} adjoint gradients, {result.refused} refused trial shapes, "
            f"{result.seconds:.1f} s",
            f"  s = [{', '.join(f'{v:.5f}' for v in f['s'])}]",
            f"  wrote {out}/shape.json, summary.json, history.json, shapes.png, history.png, flow.png",
        ]
    )


def _dataset(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.dataset import generate

    comm = MPI.COMM_WORLD
    case = _load(args)
    if args.samples < 1 or args.workers < 1:
        raise CaseError("--samples and --workers must be ≥ 1")

    def progress(p) -> None:
        _progress(
            f"[{p.stored}/{args.samples}] {p.done} computed here, {p.failed} failed, "
            f"{p.seconds / max(p.done, 1):.2f} s/sample, ETA {p.eta:.0f} s"
        )

    try:
        summary = generate(case, args.out, args.samples, args.seed, args.workers, progress, comm)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    summary |= {"out": str(args.out), "case": case.name, "level": case.level}
    if comm.rank == 0:
        print(
            json.dumps(summary)
            if args.json
            else f"{args.out}: {summary['computed']} samples computed ({summary['failed']} failed) in "
            f"{summary['seconds']:.1f} s; {args.samples} requested"
        )
    return 0


def _train(args: argparse.Namespace) -> int:
    from surrogates.train import PHYSICS_METHODS, TrainSettings, train

    case = _load(args)
    data = _read_dataset_for(case, args.data)
    settings = TrainSettings(
        method=args.method,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
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
            _progress(
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
    print(
        json.dumps(out)
        if args.json
        else f"{args.out}: {args.method}, {m['epochs']} epochs in {m['train_seconds']:.0f} s, "
        f"{m['pod_modes']} POD modes\n"
        f"  test C_D relative error: median {m['cd_error_median']:.2e}, p95 {m['cd_error_p95']:.2e}, "
        f"max {m['cd_error_max']:.2e}\n"
        f"  median cosine(dC_D/ds surrogate, adjoint) {m['gradient_cosine_median']:.4f}, "
        f"median field error {m['field_error_median']:.2e} ({m['test_samples']} test samples)" + extra
    )
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


def _bench_train(args: argparse.Namespace) -> int:
    from shapeopt.training_bench import bench_train
    from surrogates.train import METHODS

    case = _load(args)
    _read_dataset_for(case, args.data)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CaseError(f"unknown training method {unknown[0]!r} (expected some of {', '.join(METHODS)})")
    try:
        rows = bench_train(case, args.data, args.out, args.budget_seconds, methods, args.workers, _progress)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    if args.json:
        print(json.dumps({"out": str(args.out), "methods": [r["method"] for r in rows], "rows": rows}))
    else:
        print((args.out / "table.md").read_text() + f"{args.out / 'validation-error.png'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.pipeline import RunSettings, report_markdown, run_pipeline

    comm = MPI.COMM_WORLD
    if comm.size > 1:
        raise CaseError("`run` is serial; give the dataset stage processes with --workers")
    case = _load(args)
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
        outcome = run_pipeline(case, settings, log=_progress)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    summary = _write_run(outcome.result, outcome.problem, out, comm)
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
    print(json.dumps(summary) if args.json else _optimize_text(outcome.result, out) + ", report.md")
    return 0 if outcome.result.converged else 6


def _show(args: argparse.Namespace) -> int:
    from shapeopt.cases import case_from_dict
    from shapeopt.pictures import render_view
    from shapeopt.problem import DragProblem

    try:
        summary = json.loads((args.directory / "summary.json").read_text())
        case = case_from_dict(summary["case"]).with_overrides(level=args.level)
        initial, final = np.asarray(summary["initial"]["s"]), np.asarray(summary["final"]["s"])
        width, height = (int(v) for v in args.size.lower().split("x"))
    except FileNotFoundError as exc:
        raise CaseError(
            f"{args.directory} is not an optimization run directory ({exc.filename} missing)"
        ) from None
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise CaseError(f"{args.directory}: cannot read the run ({exc.__class__.__name__}: {exc})") from None
    problem = DragProblem(case)
    evaluation = problem.evaluate(final)
    u, p = problem.solver.split()
    outlines = [
        ("initial", problem.shape.outline(initial), "grey"),
        ("optimized", problem.shape.outline(final), "black"),
    ]
    x0, x1, y0, y1 = (-2.0, 6.0, -2.0, 2.0)
    screenshot = args.screenshot or (args.out / f"show-{args.field}.png" if args.out else None)
    path = render_view(
        u,
        p,
        outlines,
        (x0, x1, y0, y1),
        args.field,
        screenshot,
        (width, height),
        title=f"{case.name}  Re={case.re:g}  C_D={evaluation.cd:.5f}",
    )
    if path is not None:
        print(json.dumps({"screenshot": str(path), "cd": evaluation.cd}) if args.json else f"wrote {path}")
    return 0


def _picture_window(case: Case) -> tuple[float, float, float, float]:
    if case.domain.kind == "dfg-channel":
        from shapeopt.meshing import DFG_HEIGHT, DFG_LENGTH

        return (0.0, DFG_LENGTH, 0.0, DFG_HEIGHT)
    return (-3.0, 12.0, -3.5, 3.5)


def _solve_text(s: dict) -> str:
    lines = [
        f"case {s['case']}  Re {s['re']:g}  level {s['level']}  ranks {s['ranks']}",
        f"  C_D  {s['cd']:.8f}   (surface integral {s['cd_surface']:.8f})",
        f"  C_L  {s['cl']:.8f}   (surface integral {s['cl_surface']:.8f})",
    ]
    if s["dp"] is not None:
        lines.append(f"  Δp   {s['dp']:.8f}")
    lines += [
        f"  {s['dofs']} DOFs on {s['cells']} cells, {s['newton_iterations']} Newton iterations"
        + (f" after continuation through Re {s['continuation_steps']}" if s["continuation_steps"] else ""),
        f"  {s['seconds']:.2f} s (mesh {s['mesh_seconds']:.2f} s, solve {s['solve_seconds']:.2f} s)",
    ]
    if "files" in s:
        lines.append("  wrote " + ", ".join(s["files"]))
    return "\n".join(lines)


def _progress(text: str) -> None:
    """A progress line on stderr (stdout stays free for --json)."""
    print(text, file=sys.stderr, flush=True)


def _error(message: str) -> None:
    try:
        from mpi4py import MPI

        if MPI.Is_initialized() and MPI.COMM_WORLD.rank != 0:
            return
    except ImportError:
        pass
    print(f"shapeopt: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
