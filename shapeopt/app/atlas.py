"""The atlas: the least-drag body for every combination of Reynolds number, area ratio and minimum
thickness, each found by the FEM Newton optimizer (`optimize_newton`).

Problems are taken in the order area ratio, thickness, then Re ascending, and each starts from the nearest
optimum already found or two on its line extrapolated in ln Re (`atlas_starts.warm_start`); `cold` starts
every problem from the circle. With a surrogate, the surrogate route (`atlas_surrogate`) chooses each
start instead; `atlas_compare` sets the two routes side by side.

An atlas folder OUT holds:

    atlas-case.json              the case (resolved, at its mesh level), how problems start (warm, cold)
                                 and the surrogate route's settings (its file's SHA-256, refits)
    surrogate.pt, dataset.h5     with a surrogate: the working copies it is refit in
    problems/<name>/summary.json the problem's row, its first and optimal shapes (`ShapeSummary`), the case
    problems/<name>/outline.csv  the optimum's boundary nodes (x, y in the case's frame), and outline.dat
    atlas.csv, atlas.json        one row per finished problem (`COLUMNS`), rewritten after each problem
    cd.png, slenderness.png, outlines.png

A problem's folder is written into a temporary sibling that is renamed into place when complete
(`staged_folder`): a folder with summary.json is a finished problem, which a rerun skips and reads back.
So an atlas stopped by Ctrl-C or kill -9 is completed by the same command, and a grid may grow. Functions
here report progress through a callback and never print.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import re as regex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shapeopt.app.atlas_starts import Conditions, case_for, known_optima, warm_start
from shapeopt.app.atlas_surrogate import ATLAS_SEARCH, SurrogateChoice, setup_cost, working_copies
from shapeopt.app.optimizers import refuse_operating_range
from shapeopt.app.runs import write_optimum_outline
from shapeopt.app.surrogate_route import SurrogateRoute
from shapeopt.cases import Case, case_from_dict
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.newton import optimize_newton
from shapeopt.design.results import OptimizationResult
from shapeopt.designs import body_shape
from shapeopt.errors import CaseError, InterruptedWorkError, ShapeError, ShapeoptError, interrupt_behind
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem
from shapeopt.files import read_json, remove_abandoned, staged_folder, write_json, written_whole
from shapeopt.geometry.outlines import read_outline
from shapeopt.viz.plots import plot_against_re, plot_outlines_by_re
from surrogates.writer_lock import WriterLock

RECORD = "atlas-case.json"
PROBLEMS = "problems"
# Columns a row of an atlas written before they were added reads back as.
ROW_DEFAULTS = {"refit_seconds": 0.0}
COLUMNS = (
    "re",
    "area_ratio",
    "min_thickness",
    "cd",
    "cd_circle",
    "change",
    "length_height",
    "front_angle",
    "rear_angle",
    "kkt",
    "fem_solves",
    "reference_solves",
    "seconds",
    "reference_seconds",
    "refit_seconds",
    "converged",
    "warm_start",
)


@dataclass(frozen=True)
class AtlasProgress:
    """One problem done: its place `index` (from 1) among `total`, its row, and whether it was finished
    before (skipped, its row read back from `folder`)."""

    index: int
    total: int
    row: dict[str, Any]
    skipped: bool
    folder: Path
    objective: str = "C_D"  # what the row's `cd` holds: the case's objective (`Objective.describe`)


def grid_problems(base: Case, grid: list[Conditions]) -> list[str]:
    """What is wrong with the grid for `base` (empty if nothing): Re outside a range case's range, area
    ratios or thicknesses its design space cannot reach (checked as a case file is). `CaseError` for a
    case without a free body."""
    body_shape(base)
    problems = []
    if base.re_range is not None:
        low, high = base.re_range
        outside = sorted({c.re for c in grid if not low <= c.re <= high})
        if outside:
            listed = ", ".join(f"{re:g}" for re in outside)
            problems.append(f"--re {listed} outside the case's Re range [{low:g}, {high:g}]")
    for a, t in dict.fromkeys((c.area_ratio, c.min_thickness) for c in grid):
        try:
            case_from_dict(
                case_for(base, Conditions(base.re, a, t)).to_dict(), f"area ratio {a:g}, min thickness {t:g}"
            )
        except CaseError as exc:
            problems.append(str(exc))
    return problems


def atlas_record(base: Case, cold: bool, surrogate: SurrogateChoice | None = None) -> dict[str, Any]:
    """What atlas-case.json holds: the case (as JSON reads it back), its mesh level, the start, and for the
    surrogate route its file's SHA-256 and refit settings (`SurrogateChoice.record`)."""
    record = {"level": base.level, "start": _start(cold), "case": json.loads(json.dumps(base.to_dict()))}
    return record | (surrogate.record() if surrogate is not None else {})


def _start(cold: bool) -> str:
    return "cold" if cold else "warm"


def check_atlas_folder(
    out: Path, base: Case, grid: list[Conditions], cold: bool, surrogate: SurrogateChoice | None = None
) -> None:
    """Refuse in one `CaseError` line, before any work, an output folder that holds other files, an atlas
    of another case, mesh level, start or route (another surrogate file, other refit settings), or finished
    problems that `grid` does not hold."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CaseError(f"{out} is not a folder; an atlas is written there: remove it or give another --out")
    if not (out / RECORD).is_file():
        if out.is_dir() and any(path.name != f"{LOCK}.lock" for path in out.iterdir()):
            raise CaseError(
                f"--out {out} is a folder of other files, not an atlas; give a new folder or an earlier "
                "atlas's"
            )
        return
    stored = read_json(out / RECORD, "atlas record")
    if not isinstance(stored, dict):
        raise CaseError(f"{out / RECORD}: not an atlas record (a JSON object)")
    wanted = atlas_record(base, cold, surrogate)
    differences = [
        item for key in wanted for item in _differences(stored.get(key, _MISSING), wanted[key], key)
    ]
    if differences:
        shown = "; ".join(differences[:3]) + ("; …" if len(differences) > 3 else "")
        raise CaseError(
            f"--out {out} holds an atlas of other settings ({shown}); give its case, level, start and "
            "surrogate, or another folder"
        )
    names = {c.name for c in grid}
    foreign = [name for name in finished_problems(out, body_shape(base).size) if name not in names]
    if foreign:
        raise CaseError(
            f"--out {out} holds finished problems outside this grid ({', '.join(sorted(foreign))}); "
            "give a grid that holds them, or another folder"
        )


def _differences(stored: Any, wanted: Any, key: str) -> list[str]:
    """'KEY STORED there, WANTED here' (or 'KEY missing there', 'KEY unknown here') for every leaf where
    two JSON values differ, nested keys joined by dots."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        keys = list(dict.fromkeys([*stored, *wanted]))
        nested = (_differences(stored.get(k, _MISSING), wanted.get(k, _MISSING), f"{key}.{k}") for k in keys)
        return [item for items in nested for item in items]
    if stored == wanted:
        return []
    if stored is _MISSING or wanted is _MISSING:
        return [f"{key} {'missing there' if stored is _MISSING else 'unknown here'}"]
    return [f"{key} {stored!r} there, {wanted!r} here"]


_MISSING = object()  # a key one of two records lacks


def finished_problems(out: Path, size: int | None = None) -> dict[str, dict[str, Any]]:
    """The summaries of the finished problems in the atlas folder `out`, by folder name; with `size` (the
    case's parameter count) each checked (`summary_problem`), a damaged one refused in one `CaseError`
    line."""
    folder = Path(out) / PROBLEMS
    if folder.exists() and not folder.is_dir():
        raise CaseError(f"{folder} is not a folder; an atlas keeps its problems there: remove it")
    if not folder.is_dir():
        return {}
    summaries = {}
    for path in sorted(folder.iterdir()):
        if not path.name.startswith(".") and (path / "summary.json").is_file():
            summary = read_json(path / "summary.json", "problem summary")
            if not (isinstance(summary, dict) and {"row", "final"} <= summary.keys()):
                raise CaseError(f"{path / 'summary.json'}: not the summary of an atlas problem")
            problem = summary_problem(summary, path.name, size) if size is not None else None
            if problem is not None:
                raise CaseError(
                    f"{path / 'summary.json'} is damaged ({problem}); remove {path} and the same command "
                    "solves that problem again"
                )
            summaries[path.name] = summary
    return summaries


# The columns of a row that hold numbers (any finite one), counts and text.
_COUNTS = ("fem_solves", "reference_solves")


def summary_problem(summary: dict[str, Any], name: str, size: int) -> str | None:
    """What is wrong with a finished problem's summary read back from its folder `name` (None if nothing):
    a row without every column (`COLUMNS`; those of `ROW_DEFAULTS` may be missing), a number that is not a
    finite number, a count that is no count ≥ 0, conditions that are not the folder's, a final shape `s`
    that is not `size` finite numbers."""
    row = summary["row"]
    if not isinstance(row, dict):
        return "its row is not a JSON object"
    missing = [key for key in COLUMNS if key not in row and key not in ROW_DEFAULTS]
    if missing:
        return f"its row lacks {', '.join(missing)}"
    for key in COLUMNS:
        value = row.get(key, ROW_DEFAULTS.get(key))
        if key == "converged" and not isinstance(value, bool):
            return f"converged {value!r} is not true or false"
        if key == "warm_start" and not isinstance(value, str):
            return f"warm_start {value!r} is not text"
        if key in _COUNTS and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return f"{key} {value!r} is not a count"
        if key not in ("converged", "warm_start", *_COUNTS) and not _finite(value):
            return f"{key} {value!r} is not a finite number"
    if not (row["re"] > 0 and row["area_ratio"] > 0 and row["min_thickness"] >= 0):
        return "its conditions are out of range"
    if Conditions.of_row(row).name != name:
        return f"its row holds {Conditions.of_row(row).text()}, not the conditions of its folder"
    s = summary["final"].get("s") if isinstance(summary["final"], dict) else None
    if not (isinstance(s, list) and len(s) == size and all(_finite(v) for v in s)):
        return f"its final s is not {size} finite numbers"
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def run_atlas(
    base: Case,
    grid: list[Conditions],
    out: Path,
    cold: bool = False,
    progress: Callable[[AtlasProgress], None] | None = None,
    comm=MPI.COMM_WORLD,
    surrogate: SurrogateChoice | None = None,
) -> dict[str, Any]:
    """Solve every problem of `grid` (`atlas_grid`) for the case `base` that `out` does not hold finished,
    and write the atlas there (module docstring): by the Newton route, or with `surrogate` by the surrogate
    route (`atlas_surrogate`; a surrogate that does not fit the case is refused before anything is
    written). `progress` gets each problem, solved or skipped. Ctrl-C or an error ends it in one
    `ShapeoptError` line naming how many problems are finished. Returns the table (what atlas.json holds,
    `atlas_table`)."""
    out = Path(out)
    refuse_operating_range(base, "atlas")
    check_atlas_folder(out, base, grid, cold, surrogate)
    route, setup, lock = None, None, None
    try:
        if surrogate is None:
            lock = _prepare(out, atlas_record(base, cold), comm)
        else:
            route = surrogate.open()
            # the user's surrogate: a working copy's metrics are its refit's
            setup = setup_cost(route.model, route.source)
            with DragProblem(case_for(base, grid[0]), comm) as problem:
                route.check(problem, [c.re for c in grid])
                lock = _prepare(out, atlas_record(base, cold, surrogate), comm)
                route = working_copies(route, out, comm)
                route.check(problem, [c.re for c in grid])  # the copies an earlier run left: before any work
        return _solve_grid(base, grid, out, cold, progress, comm, route, setup)
    finally:
        if lock is not None:
            lock.release()


def _solve_grid(base, grid, out, cold, progress, comm, route, setup) -> dict[str, Any]:
    """`run_atlas` in the atlas folder `out` prepared and locked: every problem not finished solved."""
    summaries = finished_problems(out, body_shape(base).size)
    rows = {name: ROW_DEFAULTS | summary["row"] for name, summary in summaries.items()}
    found = {name: (Conditions.of_row(s["row"]), np.array(s["final"]["s"])) for name, s in summaries.items()}
    states: dict[str, np.ndarray | None] = {}  # the flow at this run's optima (local DOFs; None: remeshed)
    try:
        for index, conditions in enumerate(grid, 1):
            folder = out / PROBLEMS / conditions.name
            skipped = conditions.name in rows
            if not skipped:
                circles = {row["re"]: row["cd_circle"] for row in rows.values()}
                summary, states[conditions.name] = solve_problem(
                    base,
                    conditions,
                    {} if cold else found,
                    circles,
                    folder,
                    {} if cold else states,
                    comm,
                    route,
                )
                rows[conditions.name] = summary["row"]
                found[conditions.name] = (conditions, np.array(summary["final"]["s"]))
                _write_results(out, atlas_table(base, cold, _in_order(grid, rows), setup), comm.rank)
            if progress is not None:
                row = rows[conditions.name]
                progress(AtlasProgress(index, len(grid), row, skipped, folder, base.objective.describe()))
        table = atlas_table(base, cold, _in_order(grid, rows), setup)
        _write_results(out, table, comm.rank)
    except BaseException as exc:  # Ctrl-C, SIGTERM, an error: one line naming what is finished
        _stopped(exc, sum(c.name in rows for c in grid), len(grid), out)
    return table


LOCK = ".atlas"  # the atlas folder's writer lock is LOCK.lock inside it (`WriterLock`)


def _prepare(out: Path, record: dict[str, Any], comm) -> WriterLock | None:
    """The atlas folder `out` made and locked for this run (one atlas at a time: another's live run is
    refused in one `CaseError` line), its abandoned problem folders removed and its `record` written.
    Returns the lock (rank 0; None on the others)."""
    lock, refused = None, None
    if comm.rank == 0:
        (out / PROBLEMS).mkdir(parents=True, exist_ok=True)
        try:
            lock = WriterLock(out / LOCK)
        except ValueError as exc:  # FileLockedError, LockFileError
            refused = str(exc).replace(str(out / LOCK), f"the atlas {out}", 1)
    refused = comm.bcast(refused, root=0)
    if refused is not None:
        raise CaseError(refused)
    if comm.rank == 0:
        remove_abandoned(out / PROBLEMS)
        write_json(record, out / RECORD)
    comm.barrier()
    return lock


def _write_results(out: Path, table: dict[str, Any], rank: int) -> None:
    """The table and the pictures of the rows so far (rank 0)."""
    write_table(out, table, rank)
    if rank == 0 and table["rows"]:
        write_pictures(out, table)


def _in_order(grid: list[Conditions], rows: dict[str, dict]) -> list[dict]:
    return [rows[c.name] for c in grid if c.name in rows]


def _stopped(exc: BaseException, finished: int, total: int, out: Path) -> None:
    """Raise `exc` again, as one line that tells how many problems are finished in `out` (Ctrl-C as
    `InterruptedWorkError`, with the exit code of the interrupt); any other error as it is."""
    where = f"{finished} of {total} problems are finished in {out}; the same command completes the atlas"
    interrupt = interrupt_behind(exc)
    if interrupt is not None:
        told = InterruptedWorkError(f"interrupted; {where}")
        told.exit_code = getattr(interrupt, "exit_code", told.exit_code)  # Ctrl-C 130, SIGTERM 143
        raise told from None
    if isinstance(exc, ShapeoptError):
        told = copy.copy(exc)
        told.args = (f"{exc}; {where}",)
        raise told from None
    if isinstance(exc, OSError):  # a folder made read-only, a full disk: nothing half-written is kept
        raise CaseError(f"cannot write {exc.filename or out}: {exc.strerror or exc}; {where}") from None
    raise exc


def solve_problem(
    base: Case,
    conditions: Conditions,
    found: dict[str, tuple[Conditions, np.ndarray]],
    circles: dict[float, float],
    folder: Path,
    states: dict[str, np.ndarray | None] | None = None,
    comm=MPI.COMM_WORLD,
    route: SurrogateRoute | None = None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Find the least-drag body of one problem from the nearest of the optima `found` (`warm_start`;
    none: the circle), or with `route` from the surrogate's optimum among them and Sobol designs
    (`SurrogateRoute.optimize`), and write its folder (summary.json, outline.csv, outline.dat) whole.
    The first solve starts from the nearest optimum's flow if `states` (name → state, local DOFs) holds
    it, else from Stokes. The circle's C_D is the first iterate's when the optimizer starts there, else
    taken from `circles` (Re → C_D of the circle, s = 0), else one more FEM solve, counted apart as a
    reference solve. Returns the summary and the flow at the optimum (local DOFs; None where the problem
    ended on a regenerated mesh, whose layout the next problem's reference mesh does not share)."""
    case = case_for(base, conditions)
    with DragProblem(case, comm) as problem:
        J = ReducedFunctional(problem)
        s0, source = warm_start(problem.space, conditions, found, takes=lambda s: _mesh_takes(problem, s))
        origin = regex.split(r"[*+]", source)[-1 if "*" in source else 0]  # the nearest optimum
        if states and origin in states:
            problem.start_from(states[origin])
        if route is None:
            result, refit_seconds = optimize_newton(J, s0), 0.0
        else:
            known = known_optima(problem.space, conditions, found)
            result, refit_seconds = route.optimize(
                J, ATLAS_SEARCH, known, report_initial=False, key=conditions.name
            )
            source = "surrogate"
        reference_seconds = 0.0
        if source == "circle" and not np.any(result.initial.s):  # not dilated to another area ratio
            cd_circle = result.initial.objective_value
        elif conditions.re in circles:
            cd_circle = circles[conditions.re]
        else:
            start = time.perf_counter()
            cd_circle = problem.evaluate(np.zeros(J.size), re=conditions.re).objective
            reference_seconds = time.perf_counter() - start
        reference = (problem.fem_solves - result.fem_solves, reference_seconds)
        row = problem_row(conditions, result, cd_circle, reference, source, refit_seconds)
        summary = {
            "row": row,
            "message": result.message,
            "initial": result.initial.to_dict(),
            "final": result.final.to_dict(),
            "case": case.to_dict(),
        }
        with staged_folder(folder, comm) as work:
            if comm.rank == 0:
                write_optimum_outline(J, result.final, work / "outline.csv")
            write_json(summary, work / "summary.json", comm.rank)  # last: the mark of a finished problem
        # a flow on a regenerated mesh has another DOF layout: no guess for the next problem's mesh
        state = result.final_state if problem.on_reference else None
    return summary, state


def _mesh_takes(problem: DragProblem, s: np.ndarray) -> bool:
    """Whether the problem's mesh map takes the design `s` (its cells' quality; the mesh is left there)."""
    try:
        problem.move_to(s)
    except ShapeError:
        return False
    return True


def problem_row(
    conditions: Conditions,
    result: OptimizationResult,
    cd_circle: float,
    reference: tuple[int, float],
    source: str,
    refit_seconds: float = 0.0,
) -> dict[str, Any]:
    """One row of the table (`COLUMNS`): conditions; optimal C_D, the circle's (s = 0, diameter 1) and the
    change; length/height and tip angles (degrees) of the optimum; the final KKT residual; FEM solves and
    seconds (wall) of the optimizer (with the surrogate route its search) and of the circle's `reference`
    solve (solves, seconds); the surrogate's refit seconds; whether it converged; the problem it started
    from (its name), "circle" or "surrogate"."""
    final = result.final
    return {
        "re": conditions.re,
        "area_ratio": conditions.area_ratio,
        "min_thickness": conditions.min_thickness,
        "cd": final.objective_value,
        "cd_circle": float(cd_circle),
        "change": final.objective_value / cd_circle - 1,
        "length_height": final.length / final.height,
        "front_angle": final.front_angle,
        "rear_angle": final.rear_angle,
        "kkt": float(result.history[-1].kkt_residual),
        "fem_solves": int(result.fem_solves),
        "reference_solves": int(reference[0]),
        "seconds": float(result.seconds),
        "reference_seconds": float(reference[1]),
        "refit_seconds": float(refit_seconds),
        "converged": bool(result.converged),
        "warm_start": source,
    }


def atlas_table(
    base: Case, cold: bool, rows: list[dict[str, Any]], setup: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What atlas.json holds: the case's name and level, the start, the objective that the columns `cd`
    and `cd_circle` hold (`Objective.describe`, "C_D" for the drag), the route ("newton", or "surrogate"
    with the surrogate's `setup` cost, `setup_cost`), the columns, the rows and their totals (problems,
    converged, FEM solves, reference solves, seconds, refit seconds, the largest KKT residual)."""
    totals = {
        "problems": len(rows),
        "converged": sum(bool(row["converged"]) for row in rows),
        "fem_solves": sum(row["fem_solves"] for row in rows),
        "reference_solves": sum(row["reference_solves"] for row in rows),
        "seconds": sum(row["seconds"] for row in rows),
        "reference_seconds": sum(row["reference_seconds"] for row in rows),
        "refit_seconds": sum(row.get("refit_seconds", 0.0) for row in rows),
        "max_kkt": max((row["kkt"] for row in rows), default=0.0),
    }
    return {
        "case": base.name,
        "level": base.level,
        "start": _start(cold),
        "route": "newton" if setup is None else "surrogate",
        "objective": base.objective.describe(),  # what each row's `cd` and `cd_circle` hold
        "setup": setup,
        "columns": list(COLUMNS),
        "rows": rows,
        "totals": totals,
    }


def write_table(out: Path, table: dict[str, Any], rank: int = 0) -> None:
    """atlas.json (`table`) and atlas.csv (its rows under a header of `COLUMNS`), each replaced whole."""
    if rank != 0:
        return
    write_json(table, out / "atlas.json")
    with written_whole(out / "atlas.csv") as partial, partial.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in table["rows"]:
            writer.writerow({key: _csv_value(row[key]) for key in COLUMNS})


def _csv_value(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def _outline(folder: Path) -> np.ndarray:
    """The optimum's outline (n, 2) of a finished problem's folder; `CaseError` in one line if it is not
    there or damaged."""
    path = folder / "outline.csv"
    try:
        points = read_outline(path)
        problem = None if points.ndim == 2 and points.shape[1:] == (2,) and np.isfinite(points).all() else ""
    except (OSError, ValueError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else f"not an outline of x, y ({exc})"
    if problem is not None:
        where = f"remove {folder} and the same command solves it again"
        raise CaseError(f"{path}: {problem or 'not an outline of x, y'}; {where}")
    return points


def write_pictures(out: Path, table: dict[str, Any]) -> list[Path]:
    """cd.png (optimal C_D and its change from the circle against Re), slenderness.png (length/height
    against Re), one line per (area ratio, thickness); outlines.png (every optimum, coloured by Re)."""
    rows = table["rows"]
    title = f"{table['case']}, level {table['level']}, {table['start']} start: {len(rows)} optima"
    outlines = [(row["re"], _outline(out / PROBLEMS / Conditions.of_row(row).name)) for row in rows]
    return [
        plot_against_re(
            rows,
            [
                ("cd", f"{table.get('objective', 'C_D')} of the optimum", 1.0),
                ("change", "change from the circle (%)", 100.0),
            ],
            out / "cd.png",
            title,
        ),
        plot_against_re(rows, [("length_height", "length / height", 1.0)], out / "slenderness.png", title),
        plot_outlines_by_re(outlines, out / "outlines.png", title),
    ]
