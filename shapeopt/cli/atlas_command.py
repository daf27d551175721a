"""The `atlas` command: the least-drag body for every combination of Re, area ratio and minimum thickness."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from shapeopt.cases import RE_LIMITS
from shapeopt.cli.common import load_args, print_result, status_line
from shapeopt.errors import CaseError, ShapeoptError
from shapeopt.files import check_output_folder


def number_list(
    what: str, low: float, low_allowed: bool, check: Callable[[float], str | None] | None = None
) -> Callable[[str], tuple[float, ...]]:
    """An option type: comma-separated finite numbers above `low` (or from it, `low_allowed`), none twice,
    each passing `check` (which says what is wrong with a value, None if nothing); `what` names them in
    messages ("Reynolds numbers")."""
    bound = f"{'≥' if low_allowed else '>'} {low:g}"

    def parse(text: str) -> tuple[float, ...]:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got nothing")
        values: list[float] = []
        for item in text.split(","):
            try:
                value = float(item)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated {what}, got {item.strip()!r} in {text!r}"
                ) from None
            if not (math.isfinite(value) and (value > low or (low_allowed and value == low))):
                raise argparse.ArgumentTypeError(f"{what} must be finite and {bound}, got {item.strip()}")
            problem = check(value) if check is not None else None
            if problem is not None:
                raise argparse.ArgumentTypeError(problem)
            if value in values:
                raise argparse.ArgumentTypeError(f"{item.strip()} is listed twice in {text!r}")
            values.append(value)
        return tuple(values)

    return parse


def reynolds_number(value: float) -> str | None:
    """What is wrong with an `--re` value (outside `RE_LIMITS`), None if nothing."""
    low, high = RE_LIMITS
    if low <= value <= high:
        return None
    return f"Reynolds numbers must lie from {low:g} to {high:g}, got {value:g}"


def positive_seconds(text: str) -> float:
    """An option type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"seconds must be finite and > 0, got {text}")
    return value


def worker_count(text: str) -> int:
    """An option type: 1 or 2 processes."""
    if text not in ("1", "2"):
        raise argparse.ArgumentTypeError(f"expected 1 or 2, got {text!r}")
    return int(text)


ATLAS_REFIT_SECONDS = 10.0  # seconds of each fine-tune after a problem, by default (--refit-seconds)
SHIPPED_DESIGNER = True  # `--designer` without a file: the designer shipped for the default space
# Options of the FEM routes, by destination: refused beside --designer, which solves nothing.
FEM_ROUTE_OPTIONS = {
    "cold": "--cold",
    "surrogate": "--surrogate",
    "refit": "--refit",
    "refit_seconds": "--refit-seconds",
    "compare_newton": "--compare-newton",
    "workers": "--workers",
}

NEWTON = "newton"  # with --compare-newton, the Newton route's atlas folder inside --out
FORMER_NEWTON = "adjoint"  # its name in atlases written before: such an atlas resumes there


def newton_folder(out: Path) -> Path:
    """The Newton route's atlas folder of the atlas at `out`."""
    former = out / FORMER_NEWTON
    return former if former.is_dir() and not (out / NEWTON).exists() else out / NEWTON


def atlas_command(args: argparse.Namespace) -> int:
    from shapeopt.app.atlas import check_atlas_folder, grid_problems, run_atlas
    from shapeopt.app.atlas_compare import compare_routes, write_comparison_picture
    from shapeopt.app.atlas_starts import atlas_grid
    from shapeopt.app.atlas_surrogate import SurrogateChoice, setup_cost
    from shapeopt.app.surrogate_route import load_surrogate
    from shapeopt.fem import MPI
    from shapeopt.files import write_json

    comm = MPI.COMM_WORLD
    base = load_args(args)
    grid = atlas_grid(
        args.re,
        args.area_ratio or (base.constraints.area_ratio,),
        args.min_thickness or (base.constraints.min_thickness,),
    )
    if args.designer is not None:
        return _designer_atlas(args, base, grid)
    workers = args.workers or 1
    problems = grid_problems(base, grid)
    for option, given in (("--refit", args.refit), ("--compare-newton", args.compare_newton)):
        if given and args.surrogate is None:
            problems.append(f"{option} needs --surrogate FILE")
    if args.verify_sample is not None:
        problems.append("--verify-sample needs --designer (the FEM routes verify every problem)")
    if workers > 1 and not args.compare_newton:
        problems.append("--workers 2 needs --compare-newton (the Newton route is the second process)")
    if workers > 1 and comm.size > 1:
        problems.append("--workers 2 runs serially: give mpirun's processes or workers, not both")
    if problems:
        raise CaseError("; ".join(problems))
    surrogate = None
    if args.surrogate is not None:
        surrogate = SurrogateChoice(args.surrogate, args.refit, args.refit_seconds or ATLAS_REFIT_SECONDS)
        cost = setup_cost(load_surrogate(args.surrogate), args.surrogate) if args.compare_newton else None
        if cost is not None and cost["dataset_solves"] is None:
            raise CaseError(
                f"--compare-newton: the dataset of {args.surrogate} is not here to count its cost"
            )
    check_output_folder(args.out, inputs=[args.case, args.surrogate])
    check_atlas_folder(args.out, base, grid, args.cold, surrogate)
    if args.compare_newton:
        check_atlas_folder(newton_folder(args.out), base, grid, cold=False)

    def progress(route: str):
        def show(p) -> None:
            if comm.rank == 0:
                status_line(f"{route}{_progress_text(p)}")

        return show

    newton_process = _start_newton_route(base, grid, newton_folder(args.out)) if workers > 1 else None
    try:
        table = run_atlas(base, grid, args.out, args.cold, progress(""), comm, surrogate)
        if newton_process is not None:
            newton_process.join()
            if newton_process.exitcode != 0:
                raise child_failure(newton_process.exitcode)
    finally:
        if newton_process is not None and newton_process.is_alive():
            newton_process.terminate()
            newton_process.join()
    result = table | {"out": str(args.out)}
    text = _atlas_text(table, args.out)
    converged = table["totals"]["converged"] == table["totals"]["problems"]
    if args.compare_newton:  # with --workers 2 every problem is finished: read back
        shown = progress("Newton route ") if newton_process is None else None
        newton = run_atlas(base, grid, newton_folder(args.out), False, shown, comm)
        comparison = compare_routes(newton, table)
        write_json(comparison, args.out / "comparison.json", comm.rank)
        if comm.rank == 0:
            write_comparison_picture(
                comparison, args.out / "comparison.png", f"{base.name}, level {base.level}"
            )
        result |= {"comparison": comparison}
        text += "\n" + _comparison_text(comparison, table, newton, args.out)
        converged = converged and newton["totals"]["converged"] == newton["totals"]["problems"]
    print_result(args, result, text, comm.rank)
    return 0 if converged else 6


def _designer_atlas(args: argparse.Namespace, base, grid) -> int:
    """`atlas --designer`: every problem of `grid` answered by the designer (`design` with lists: its
    folders, table and `--verify-sample`), after refusing the FEM routes' options and an FEM atlas's
    folder. Returns the exit code."""
    from shapeopt.app.atlas import RECORD
    from shapeopt.cli.designer_commands import answer_conditions

    given = [flag for dest, flag in FEM_ROUTE_OPTIONS.items() if getattr(args, dest) not in (None, False)]
    if given:
        raise CaseError(f"--designer answers without the FEM routes: not with {', '.join(given)}")
    model = None if args.designer is SHIPPED_DESIGNER else args.designer
    check_output_folder(args.out, inputs=[args.case, model])
    if (Path(args.out) / RECORD).is_file():
        raise CaseError(f"--out {args.out} holds an atlas of the FEM routes; give another folder")
    return answer_conditions(args, base, grid, model, sample=args.verify_sample)


def child_failure(exitcode: int) -> ShapeoptError:
    """The error of a Newton-route process that ended with `exitcode` (negative: killed by that signal),
    with an exit code of the README's table: its own where it is one of them (it said why in its line),
    130 or 143 for Ctrl-C or SIGTERM, else 6 (its atlas stopped before its problems' convergence tests)."""
    if exitcode < 0:
        name = (
            signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else f"signal {-exitcode}"
        )
        error = ShapeoptError(
            f"the Newton route's process was killed ({name}); the same command completes it"
        )
        error.exit_code = {signal.SIGINT: 130, signal.SIGTERM: 143}.get(-exitcode, 6)
        return error
    error = ShapeoptError(
        f"the Newton route's process ended with exit code {exitcode}; the same command completes it"
    )
    error.exit_code = exitcode if exitcode in (2, 3, 4, 5, 6, 130, 143) else 6
    return error


def _start_newton_route(base, grid, out):
    """The Newton route's atlas into `out` in a second process (ending with this one), started."""
    from shapeopt.data.workers import single_threaded_children

    with single_threaded_children() as context:
        process = context.Process(target=_newton_route, args=(base, grid, out, os.getpid()), daemon=True)
        process.start()
    return process


def _newton_route(base, grid, out, parent: int) -> None:
    """In the second process: the Newton route's atlas, its progress lines on stderr."""
    from shapeopt.app.atlas import run_atlas
    from shapeopt.data.workers import end_with_parent
    from shapeopt.fem import MPI

    end_with_parent(parent)
    try:
        run_atlas(
            base, grid, out, False, lambda p: status_line(f"Newton route {_progress_text(p)}"), MPI.COMM_SELF
        )
    except ShapeoptError as exc:  # one line, as the command would print it; the parent names the code
        status_line(f"shapeopt: error: Newton route: {exc}")
        sys.exit(exc.exit_code)


def _progress_text(p) -> str:
    """The status line of one problem (`AtlasProgress`)."""
    row = p.row
    where = (
        f"[{p.index}/{p.total}] Re {row['re']:g}, area ratio {row['area_ratio']:g}, "
        f"min thickness {row['min_thickness']:g}"
    )
    if p.skipped:
        return f"{where}: skipped, finished before in {p.folder} ({p.objective} {row['cd']:.6f})"
    reference = f" (+{row['reference_solves']} reference)" if row["reference_solves"] else ""
    return (
        f"{where}: {p.objective} {row['cd']:.6f} ({row['change']:+.1%} from the circle), "
        f"length/height {row['length_height']:.2f}, {row['fem_solves']} FEM solves{reference}, "
        f"{row['seconds']:.1f} s, KKT {row['kkt']:.1e}, from {row['warm_start']}"
        + ("" if row["converged"] else ", NOT converged")
    )


def _atlas_text(table: dict, out) -> str:
    """The table as text, its totals and the files written."""
    t = table["totals"]
    objective = table.get("objective", "C_D")  # atlas.json written before it named the objective: C_D
    lines = [
        f"atlas of {table['case']} (level {table['level']}, {table['start']} start): {t['problems']} "
        f"problems, {t['converged']} converged"
        + ("" if objective == "C_D" else f"; J = {objective} minimised (its column J)"),
        f"  {'Re':>6} {'area':>5} {'thick':>5} {'C_D' if objective == 'C_D' else 'J':>10} {'circle':>10} "
        f"{'change':>7} {'L/H':>5} "
        f"{'front':>5} {'rear':>5} {'KKT':>8} {'FEM':>4} {'ref':>3} {'s':>6}  start",
    ]
    for r in table["rows"]:
        lines.append(
            f"  {r['re']:6g} {r['area_ratio']:5g} {r['min_thickness']:5g} {r['cd']:10.6f} "
            f"{r['cd_circle']:10.6f} {r['change']:+7.1%} {r['length_height']:5.2f} {r['front_angle']:4.0f}° "
            f"{r['rear_angle']:4.0f}° {r['kkt']:8.1e} {r['fem_solves']:4d} {r['reference_solves']:3d} "
            f"{r['seconds']:6.1f}  {r['warm_start']}" + ("" if r["converged"] else "  NOT converged")
        )
    lines += [
        f"  total: {t['fem_solves']} FEM solves (+{t['reference_solves']} reference), "
        f"{t['seconds']:.1f} s (+{t['reference_seconds']:.1f} s"
        + (f", +{t['refit_seconds']:.1f} s of refits" if t.get("refit_seconds") else "")
        + f"), largest KKT residual {t['max_kkt']:.1e}",
        f"  wrote {out}/atlas.csv, atlas.json, cd.png, slenderness.png, outlines.png and "
        "problems/<conditions>/summary.json, outline.csv",
    ]
    return "\n".join(lines)


def _comparison_text(c: dict, surrogate: dict, newton: dict, out) -> str:
    """Each problem's FEM solves by both routes (atlas tables `surrogate` and `newton`), the totals and
    the break-even points."""
    setup = c["setup"]
    problems = [
        f"  Re {s['re']:g}, area ratio {s['area_ratio']:g}, min thickness {s['min_thickness']:g}: FEM solves "
        f"surrogate route {s['fem_solves']} (+{s['reference_solves']} reference), Newton route "
        f"{n['fem_solves']} (+{n['reference_solves']})"
        for s, n in zip(surrogate["rows"], newton["rows"], strict=True)
    ]

    def even(b: dict) -> str:
        if b["problems"] is not None:
            return f"break-even after {b['problems']} problems"
        return "no break-even here, " + (
            "never" if b["projected"] is None else f"projected at {b['projected']:.0f}"
        )

    return "\n".join(
        [
            f"surrogate route against Newton (warm), {c['problems']} problems, everything counted:",
            *problems,
            f"  FEM solves: surrogate {c['solves']['surrogate']:.0f} (dataset {setup['dataset_solves']}"
            + (f", training {setup['training_solves']}" if setup.get("training_solves") else "")
            + ") "
            f"against {c['solves']['newton']:.0f}, ratio {c['solves']['ratio']:.2f}; "
            f"{even(c['break_even_solves'])}",
            f"  seconds (one process): surrogate {c['seconds']['surrogate']:.0f} (dataset "
            f"{setup['dataset_seconds']:.0f}, training {setup['training_seconds']:.0f}) against "
            f"{c['seconds']['newton']:.0f}, ratio {c['seconds']['ratio']:.2f}; "
            f"{even(c['break_even_seconds'])}",
            f"  largest C_D difference {c['max_cd_difference']:.1e}, largest KKT residual {c['max_kkt']:.1e}",
            f"  wrote {out}/comparison.json, comparison.png; "
            f"the Newton route's atlas in {newton_folder(out)}",
        ]
    )
