"""Command line: `shapeopt <command> CASE [options]`. Parses arguments and calls the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shapeopt.cases import LEVELS
from shapeopt.cli import flow_commands, learning_commands
from shapeopt.errors import ShapeoptError


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
    solve.set_defaults(run=flow_commands.solve_command)

    gradient = commands.add_parser("gradient", help="adjoint dC_D/ds (and dC_L/ds) of a shape")
    _add_case_arguments(gradient)
    gradient.add_argument("--shape", type=Path, help="shape.json (default: the reference circle)")
    gradient.add_argument("--check", action="store_true", help="Taylor test in a random direction")
    gradient.add_argument("--seed", type=int, default=0, help="seed of the Taylor-test direction")
    gradient.set_defaults(run=flow_commands.gradient_command)

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
    optimize.set_defaults(run=flow_commands.optimize_command)

    dataset = commands.add_parser("dataset", help="FEM samples (s, Re, C_D, C_L, gradients, state) to HDF5")
    _add_case_arguments(dataset)
    dataset.add_argument("--samples", type=int, required=True, help="number of samples (resumes)")
    dataset.add_argument("--out", type=Path, required=True, help="HDF5 file")
    dataset.add_argument("--seed", type=int, default=0, help="seed of the Sobol design")
    dataset.add_argument("--workers", type=int, default=1, help="local worker processes (serial runs)")
    dataset.set_defaults(run=learning_commands.dataset_command)

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
    run.set_defaults(run=learning_commands.run_command)

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
    show.set_defaults(run=flow_commands.show_command)

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
    train.add_argument(
        "--epochs", type=int, default=3000, help="epoch cap: training ends here or at the budget"
    )
    train.add_argument("--batch", type=int, default=64)
    train.add_argument(
        "--gradient-weight",
        type=float,
        help="sobolev: weight γ of the gradient term |∂C_D/∂s − adjoint|² (default: TrainSettings.gamma)",
    )
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--seed", type=int, default=0, help="seed of the split and the initial weights")
    train.add_argument("--tau", type=float, default=1e-5, help="hig: relative truncation of singular values")
    train.add_argument("--newton-steps", type=int, default=1, help="pg: Newton steps per target")
    train.add_argument("--step-size", type=float, default=1.0, help="pg: fraction of the Newton step taken")
    train.add_argument("--workers", type=int, default=2, help="dp/pg/hig: processes for the FEM physics")
    train.set_defaults(run=learning_commands.train_command)

    bench = commands.add_parser(
        "bench-train", help="the five training methods on one dataset and wall-clock budget, side by side"
    )
    _add_case_arguments(bench)
    bench.add_argument("--data", type=Path, required=True, help="HDF5 dataset from `shapeopt dataset`")
    bench.add_argument("--budget-seconds", type=float, default=600.0, help="wall-time budget per method")
    bench.add_argument("--methods", default="supervised,sobolev,dp,pg,hig", help="comma-separated list")
    bench.add_argument("--workers", type=int, default=2, help="processes for the FEM physics")
    bench.add_argument("--out", type=Path, default=Path("runs/bench-train"), help="results; reruns resume")
    bench.set_defaults(run=learning_commands.bench_train_command)
    return parser


def _add_case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", type=Path, help="case file (TOML)")
    parser.add_argument("--level", choices=LEVELS, help="mesh level (default: the case's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _error(message: str) -> None:
    try:
        from mpi4py import MPI

        if MPI.Is_initialized() and MPI.COMM_WORLD.rank != 0:
            return
    except ImportError:
        pass
    print(f"shapeopt: error: {message}", file=sys.stderr)
