"""Command line: `shapeopt <command> CASE [options]`. Parses arguments and calls the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from shapeopt.app.settings import RunSettings
from shapeopt.cases import LEVELS
from shapeopt.cli import atlas_command, designer_commands, flow_commands, learning_commands, path_commands
from shapeopt.cli.common import RenamedFlag, add_options, check_input_files, renamed_value
from shapeopt.cli.signals import Stop, sigterm_as_interrupt
from shapeopt.data.settings import DatasetSettings, PhysicsSettings
from shapeopt.errors import CaseError, InterruptedWorkError, ShapeoptError, Terminated, caused_by_ctrl_c
from surrogates.settings import METHODS, REGISTRY, SCHEDULES, TUNED, TrainSettings


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 success, 2 bad case or option, 3 solver failure, ..., 130
    Ctrl-C, 143 SIGTERM)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or an option error in one line (`OneLineParser.error`)
        return exc.code if isinstance(exc.code, int) else 2
    with sigterm_as_interrupt() as stop:
        return _run(args, stop)


def _run(args: argparse.Namespace, stop: Stop) -> int:
    """The command of `args`; a `ShapeoptError`, Ctrl-C or SIGTERM reported in one line. Returns the exit
    code."""
    try:
        check_input_files(args)
        return args.run(args)
    except ShapeoptError as exc:
        if isinstance(exc, InterruptedWorkError) and stop.terminated:
            _error("terminated (SIGTERM)" + str(exc).removeprefix("interrupted"))
            return Terminated.exit_code
        _error(str(exc))
        return exc.exit_code
    except OSError as exc:  # a full disk, a read-only mount, met after the checks before the work
        if caused_by_ctrl_c(exc):
            return _stopped(stop)
        _error(f"file system error{f' on {exc.filename}' if exc.filename else ''}: {exc.strerror or exc}")
        return CaseError.exit_code
    except Exception as exc:
        if not caused_by_ctrl_c(exc):
            raise
        return _stopped(stop)
    except KeyboardInterrupt:
        return _stopped(stop)


def _stopped(stop: Stop) -> int:
    """Ctrl-C (130) or SIGTERM (143) ended the command: one line, and the exit code."""
    if stop.terminated:
        _error("terminated (SIGTERM); the files written so far are kept")
        return Terminated.exit_code
    _error("interrupted; the files written so far are kept")
    return 130


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, `shapeopt: error: COMMAND: ...`, exit code 2 (the
    subcommands' parsers are of this class too); `--help` still prints the whole help."""

    def error(self, message: str) -> NoReturn:
        """Report a bad option (argparse names it) in one line and exit with code 2."""
        command = self.prog.removeprefix("shapeopt").strip()
        _error(f"{command + ': ' if command else ''}{' '.join(message.split())} (see {self.prog} --help)")
        self.exit(2)


def _integer_at_least(least: int):
    """An argparse `type`: an integer ≥ `least`, else one line naming the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {least}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be ≥ {least}, got {value}")
        return value

    return parse


_seed = _integer_at_least(0)  # an option's seed (numpy's generators take no negative seed)
_count = _integer_at_least(1)  # a count option


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (`shapeopt COMMAND --help` shows each)."""
    parser = OneLineParser(
        prog="shapeopt", description="Drag of bodies in steady laminar flow, and its reduction."
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    for add_command in (
        _add_solve_command,
        _add_gradient_command,
        _add_optimize_command,
        _add_atlas_command,
        _add_design_command,
        _add_train_designer_command,
        _add_train_path_command,
        _add_dataset_command,
        _add_run_command,
        _add_show_command,
        _add_train_command,
        _add_bench_train_command,
    ):
        add_command(commands)
    return parser


def _add_solve_command(commands: argparse._SubParsersAction) -> None:
    solve = commands.add_parser("solve", help="solve the steady flow of a case; print C_D, C_L")
    _add_case_arguments(solve)
    solve.add_argument("--re", type=float, help="override the case's Reynolds number")
    solve.add_argument("--out", type=Path, help="write fields (VTX), a PNG and summary.json here")
    solve.add_argument("--shape", type=Path, help="shape.json to solve for (morphs the reference mesh)")
    solve.set_defaults(run=flow_commands.solve_command)


def _add_gradient_command(commands: argparse._SubParsersAction) -> None:
    gradient = commands.add_parser("gradient", help="adjoint dC_D/ds (and dC_L/ds) of a shape")
    _add_case_arguments(gradient)
    gradient.add_argument("--shape", type=Path, help="shape.json (default: the reference circle)")
    gradient.add_argument("--check", action="store_true", help="Taylor test in a random direction")
    gradient.add_argument(
        "--seed", type=_seed, default=0, help="seed of the Taylor-test direction (default: 0)"
    )
    gradient.set_defaults(run=flow_commands.gradient_command)


def _add_optimize_command(commands: argparse._SubParsersAction) -> None:
    optimize = commands.add_parser("optimize", help="minimise C_D under the case's constraints")
    _add_case_arguments(optimize)
    optimize.add_argument(
        "--method",
        type=renamed_value("--method", {"adjoint": "slsqp"}),
        choices=["newton", "slsqp", "surrogate"],
        default="newton",
        help="newton (default): trust region on the objective's exact second-order model (adjoint gradient, "
        "Hessian by tangent-linear solves); slsqp: SLSQP with adjoint gradients; surrogate: search the "
        "surrogate, then FEM-verified trust-region refinement (not yet for an operating range of Re: a "
        "case whose objective gives re_range or points)",
    )
    optimize.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes for the K flows of an operating range of Re (this one included; default 1)",
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


def _add_atlas_command(commands: argparse._SubParsersAction) -> None:
    atlas = commands.add_parser(
        "atlas", help="least-drag body for every combination of Re, area ratio and minimum thickness"
    )
    _add_case_arguments(atlas)
    _add_condition_lists(atlas, re_required=True)
    atlas.add_argument(
        "--cold",
        action="store_true",
        help="start every problem from the circle (default: from the nearest optimum already found)",
    )
    atlas.add_argument(
        "--surrogate",
        type=Path,
        metavar="FILE",
        help="trained surrogate (.pt): each problem starts from its optimum (default: from the nearest)",
    )
    atlas.add_argument(
        "--refit",
        action="store_true",
        help="fine-tune a copy of the surrogate on the atlas's verified samples after each problem",
    )
    atlas.add_argument(
        "--refit-seconds",
        type=atlas_command.positive_seconds,
        metavar="S",
        help=f"seconds of each fine-tune (default {atlas_command.ATLAS_REFIT_SECONDS:g})",
    )
    atlas.add_argument(
        "--compare-newton",
        action="store_true",
        help="also run the Newton route into OUT/newton; write comparison.json and comparison.png",
    )
    atlas.add_argument("--compare-adjoint", action=RenamedFlag, dest="compare_newton", new="--compare-newton")
    atlas.add_argument(
        "--workers",
        type=atlas_command.worker_count,
        metavar="N",
        help="with --compare-newton, 2 runs the Newton route in a second process beside the surrogate "
        "route (default: 1, one after the other)",
    )
    atlas.add_argument(
        "--designer",
        nargs="?",
        const=atlas_command.SHIPPED_DESIGNER,
        type=Path,
        metavar="MODEL",
        help="answer every problem from a designer file, no FEM solve (no MODEL: the shipped designer), "
        "as `design` with lists writes it",
    )
    atlas.add_argument(
        "--verify-sample",
        type=_count,
        metavar="K",
        help="with --designer, Newton from the answers of K problems drawn at random",
    )
    atlas.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="atlas folder: atlas.csv, atlas.json, pictures, problems/; a rerun skips finished problems",
    )
    atlas.set_defaults(run=atlas_command.atlas_command)


def _add_design_command(commands: argparse._SubParsersAction) -> None:
    design = commands.add_parser(
        "design", help="least-drag shape for given conditions from the designer network (no FEM solve)"
    )
    _add_case_arguments(design)
    _add_condition_lists(design, re_required=False)
    design.add_argument(
        "--model", type=Path, help="designer file (default: the one shipped for the default space)"
    )
    design.add_argument(
        "--verify",
        action="store_true",
        help="FEM: Newton from the answer where its predicted gap reaches --gap-tolerance, else one solve",
    )
    design.add_argument(
        "--verify-sample",
        type=_count,
        metavar="K",
        help="Newton from the answers of K conditions drawn at random, the others answered alone",
    )
    design.add_argument(
        "--gap-tolerance",
        type=float,
        default=1e-4,
        help="relative C_D (default: 1e-4); 0: Newton from every answer",
    )
    design.add_argument("--out", type=Path, required=True, help="run directory")
    design.set_defaults(run=designer_commands.design_command)


def _add_rounds(train: argparse.ArgumentParser, rounds_type, rounds: int, what: str) -> None:
    """The options of training in rounds of fresh conditions: `--rounds` (`what`, default `rounds`),
    `--per-round` and the conditions' `--seed`."""
    train.add_argument("--rounds", type=rounds_type, default=rounds, help=f"{what} (default {rounds})")
    train.add_argument("--per-round", type=_count, default=10, help="fresh conditions per round (default 10)")
    train.add_argument("--seed", type=_seed, default=0, help="seed of the fresh conditions (default 0)")


def _add_train_designer_command(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train-designer", help="train the designer network from an atlas's optima, through the solver"
    )
    _add_case_arguments(train)
    train.add_argument("--atlas", type=Path, required=True, help="finished atlas folder: the seed optima")
    train.add_argument(
        "--method",
        choices=["pg", "hig", "dp", "supervised"],
        default="pg",
        help="pg (default): regress onto the answer after a constrained Newton step on the exact Hessian; "
        "hig: half-inverse steps on the stationarity residual; dp: the adjoint gradient through the "
        "network; supervised: the atlas's optima only (no FEM)",
    )
    _add_rounds(train, _count, 6, "rounds of fresh conditions")
    train.add_argument(
        "--steer",
        type=_count,
        default=8,
        help="each round picks its conditions where the members disagree most, of this many times as many "
        "drawn (default 8; 1: as drawn)",
    )
    train.add_argument("--members", type=_count, default=4, help="ensemble members (default 4)")
    train.add_argument("--out", type=Path, required=True, help="designer file (.pt)")
    train.set_defaults(run=designer_commands.train_designer_command)


def _add_train_path_command(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train-path",
        help="train the drag surrogate on the path of an atlas's optima (C_D, gradients, exact Hessians), "
        "steered where its own minimum lies",
    )
    _add_case_arguments(train)
    train.add_argument("--atlas", type=Path, required=True, help="finished atlas folder: the path of optima")
    train.add_argument(
        "--method",
        choices=["sobolev", "pg", "hig", "dp"],
        default="sobolev",
        help="each round labels the surrogate's minima at fresh conditions (C_D, gradient, Hessian); "
        "sobolev (default): retrain on them; pg: also the second-order model's gradient at the "
        "constrained Newton step from each; hig: half-inverse steps instead of Adam and L-BFGS; dp: "
        "C_D and gradient labels, then steps on the FEM drag at the minima through the surrogate's "
        "minimum (docs/surrogate-minimum.md)",
    )
    train.add_argument("--order", type=int, choices=[0, 1, 2], default=2, help="Sobolev order (default 2)")
    _add_rounds(train, _integer_at_least(0), 4, "steered rounds")
    train.add_argument(
        "--fit-steps",
        type=_count,
        default=500,
        help="Adam steps of each fit, then twice as many L-BFGS iterations at most (default 500)",
    )
    train.add_argument("--out", type=Path, required=True, help="surrogate file (.pt)")
    train.set_defaults(run=path_commands.train_path_command)


def _add_dataset_command(commands: argparse._SubParsersAction) -> None:
    dataset = commands.add_parser("dataset", help="FEM samples (s, Re, C_D, C_L, gradients, state) to HDF5")
    _add_case_arguments(dataset)
    dataset.add_argument("--samples", type=int, required=True, help="number of samples (resumes)")
    dataset.add_argument("--out", type=Path, required=True, help="HDF5 file")
    add_options(
        dataset,
        DatasetSettings,
        {"seed": "seed of the Sobol design", "workers": "local worker processes (serial runs)"},
    )
    dataset.set_defaults(run=learning_commands.dataset_command)


def _add_run_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="dataset → surrogate → optimize → FEM verification → report.md")
    _add_case_arguments(run)
    run.add_argument("--out", type=Path, help="run directory (default runs/<case name>)")
    add_options(
        run,
        RunSettings,
        {
            "samples": "dataset size (reused when present)",
            "workers": "local processes for the dataset",
            "train_method": "how the surrogate is trained (`shapeopt train --method`)",
            "epochs": "training epoch cap",
            "budget_seconds": "training wall-time budget",
            "search_samples": "designs in the global surrogate search",
            "seed": "seed of the dataset's designs, the training and the search",
        },
        choices={"train_method": METHODS},
    )
    run.set_defaults(run=learning_commands.run_command)


def _add_show_command(commands: argparse._SubParsersAction) -> None:
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


def _add_train_command(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train the drag surrogate on a dataset")
    _add_case_arguments(train)
    train.add_argument("--data", type=Path, required=True, help="HDF5 dataset from `shapeopt dataset`")
    train.add_argument("--out", type=Path, required=True, help="surrogate file (.pt)")
    add_options(
        train,
        TrainSettings,
        {
            "method": "; ".join(f"{m.name}: {m.description}" for m in REGISTRY.values()),
            "device": "where the network trains",
            "budget_seconds": "wall-time budget of training",
            "epochs": "epoch cap: training ends here or at the budget",
            "batch": "samples per batch",
            "gamma": "sobolev: weight γ of the gradient term |∂C_D/∂s − adjoint|²",
            "lr": "learning rate (hig: step size)",
            "seed": "seed of the split and the initial weights",
            "tau": "hig: relative truncation of singular values",
            "damping": "hig: λ of the damped step (σ / (σ² + λ σ_max²))^(1/2); 0 is plain σ^(-1/2)",
            "schedule": "budget: the rate decays over epochs/budget; plateau: until converged",
            "newton_steps": "pg: Newton steps per target",
            "step_size": "pg: fraction of the Newton step taken",
            "fresh_batch": "pg-fresh: fresh designs per batch of solves",
        },
        flags={"gamma": "--gradient-weight"},
        choices={"method": METHODS, "device": ("auto", "cpu", "cuda"), "schedule": SCHEDULES},
        resolved_later={key: _tuned_text(key) for key in TUNED},
    )
    add_options(train, PhysicsSettings, {"workers": "dp/pg/hig: processes for the FEM physics"})
    train.set_defaults(run=learning_commands.train_command)


def _add_bench_train_command(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench-train", help="training methods side by side on one dataset: equal budgets or to convergence"
    )
    _add_case_arguments(bench)
    bench.add_argument("--data", type=Path, required=True, help="HDF5 dataset from `shapeopt dataset`")
    add_options(
        bench,
        PhysicsSettings,
        {"budget_seconds": "wall-time budget per method", "workers": "processes for the FEM physics"},
    )
    bench.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="comma-separated list; a method may carry settings, e.g. hig-sobolev:damping=1e-3:lr=0.1",
    )
    bench.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="budget",
        help="budget: each method for --budget-seconds; plateau: each until converged, the budget a cap",
    )
    bench.add_argument("--out", type=Path, default=Path("runs/bench-train"), help="results; reruns resume")
    bench.set_defaults(run=learning_commands.bench_train_command)


def _tuned_text(key: str) -> str:
    """The tuned values of one setting, per training method: 'supervised 0.002, …, hig 0.3'."""
    default = getattr(TrainSettings, key)
    return "tuned per method: " + ", ".join(
        f"{name} {method.tuned.get(key, default):g}" for name, method in REGISTRY.items()
    )


def _add_condition_lists(parser: argparse.ArgumentParser, re_required: bool) -> None:
    """--re, --area-ratio and --min-thickness as comma-separated lists (every combination is a problem);
    --re required (a positive Re within a range case's range) or defaulting to the case's."""
    parser.add_argument(
        "--re",
        type=atlas_command.number_list(
            "Reynolds numbers", 0.0, low_allowed=False, check=atlas_command.reynolds_number
        ),
        required=re_required,
        metavar="RE[,RE...]",
        help="comma-separated Reynolds numbers, e.g. 1,2,5,10,20,40 (within a range case's range)"
        + ("" if re_required else "; default: the case's"),
    )
    parser.add_argument(
        "--area-ratio",
        type=atlas_command.number_list("area ratios", 0.0, low_allowed=False),
        metavar="RATIO[,RATIO...]",
        help="comma-separated body areas over the reference circle's (default: the case's)",
    )
    parser.add_argument(
        "--min-thickness",
        type=atlas_command.number_list("minimum thicknesses", 0.0, low_allowed=True),
        metavar="D[,D...]",
        help="comma-separated least chords through the centre in D, 0: none (default: the case's)",
    )


def _add_case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", type=Path, help="case file (TOML)")
    parser.add_argument("--level", choices=LEVELS, help="mesh level (default: the case's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _error(message: str) -> None:
    """One line on stderr, from rank 0 only when running under MPI."""
    mpi = sys.modules.get("mpi4py.MPI")  # loaded only by commands that run the FEM
    if mpi is not None and mpi.Is_initialized() and mpi.COMM_WORLD.rank != 0:
        return
    print(f"shapeopt: error: {message}", file=sys.stderr)
