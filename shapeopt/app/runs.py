"""Run directories of `solve`, `optimize` and `show`: what each command does, as library functions.

A run directory holds `summary.json` (the result with the resolved case), and for optimizations
`shape.json`, `history.json` (rewritten after every iteration, so an interrupted run keeps its history),
`flow.png`, `shapes.png` and `history.png`. A run is written to a fresh folder that replaces the run
directory whole when it is complete (`staged_folder`), so a run directory always holds one run. Functions
here report progress through callbacks and never print.
"""

from __future__ import annotations

import reprlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from shapeopt.app.optimizers import (
    check_goal,
    minimise_worst_regret,
    operating_range_table,
    optimizer,
    refuse_operating_range,
)
from shapeopt.app.surrogate_route import SurrogateRoute, trained_on
from shapeopt.cases import Case, case_from_dict
from shapeopt.design.functional import ReducedFunctional, ShapeSummary
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.design.results import OptimizationResult
from shapeopt.design.surrogate_search import operating_points
from shapeopt.designs import body_shape
from shapeopt.errors import CaseError
from shapeopt.fem import MPI
from shapeopt.fem.output import write_fields
from shapeopt.fem.problem import DragProblem
from shapeopt.fem.simulate import run_solve, summarize
from shapeopt.files import read_json, refuse_writing_over_inputs, shown, staged_folder, write_json
from shapeopt.geometry.outlines import write_outline
from shapeopt.geometry.shapes import RadialShape
from shapeopt.viz.pictures import render_speed, render_view
from shapeopt.viz.plots import plot_history, plot_iterates, plot_shapes


def read_shape_file(path: Path, shape: RadialShape) -> np.ndarray:
    """Parameters (m,) from a shape.json, refused unless it uses `shape`'s parametrisation."""
    data = read_json(path, "shape file")
    try:
        values, kind, modes = data["s"], data["parametrisation"], data["modes"]
    except (KeyError, TypeError) as exc:
        raise CaseError(f"{path}: not a shape file ({exc.__class__.__name__}: {exc})") from None
    s = shape_parameters(values, str(path))
    if (kind, modes) != (shape.kind, shape.modes) or s.shape != (shape.size,):
        raise CaseError(
            f"{path}: shape is {kind} with {modes} modes ({s.size} parameters), the case uses "
            f"{shape.kind} with {shape.modes} modes ({shape.size} parameters)"
        )
    return s


def shape_parameters(values: Any, where: str) -> np.ndarray:
    """Shape parameters read from JSON (`where` names them in messages): a list of finite numbers, each an
    int or a float (not true/false, not a string), else `CaseError`."""
    if not isinstance(values, list):
        raise CaseError(f"{where}: shape parameters must be a list of numbers, got {type(values).__name__}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            got = f"{type(v).__name__} {reprlib.repr(v)}"
            raise CaseError(f"{where}: shape parameters must be numbers (int or float), got {got}")
    try:
        s = np.array([float(v) for v in values])
    except OverflowError:  # an integer beyond the floats
        s = np.full(len(values), np.inf)
    if not np.all(np.isfinite(s)):
        raise CaseError(f"{where}: shape parameters must be finite numbers, got {reprlib.repr(s.tolist())}")
    return s


def picture_window(case: Case) -> tuple[float, float, float, float]:
    """The (x0, x1, y0, y1) window of flow pictures (`FlowConfiguration.picture_window`)."""
    return case.domain.flow.picture_window(case.domain)


def solve_case(case: Case, shape: Path | None = None, out: Path | None = None, comm=MPI.COMM_WORLD) -> dict:
    """One flow solve (of the case's body, or of `shape` on the morphed reference mesh, or on a mesh
    generated for it where the reference one cannot follow it: `DragProblem.follow`); with `out`,
    fields (VTX), flow.png and summary.json are written there (replacing an earlier run there whole).
    Returns the summary."""
    if shape is None:
        result, solver = run_solve(case, comm)
        summary = result.to_dict()
    else:
        s = read_shape_file(shape, body_shape(case))
        start = time.perf_counter()
        problem = DragProblem(case, comm)
        problem.follow(s, "the reference mesh cannot follow the shape")
        evaluation = problem.evaluate(s)
        problem.adjoint.destroy()  # collective, on every rank here (`FlowSolver.destroy`)
        solver = problem.solver
        result = summarize(
            case, problem.flow_mesh, solver, problem.newton, time.perf_counter() - start, evaluation.s
        )
        summary = result.to_dict() | {
            "shape": str(shape),
            "s": evaluation.s.tolist(),
            "mesh_quality": evaluation.quality,
            "mesh": problem.mesh_text(),
        }
    if out is not None:
        with staged_folder(out, comm) as work:  # replaces an earlier run in `out` whole
            fields = write_fields(solver, work)
            u, _ = solver.split()
            render_speed(
                u,
                solver.flow_mesh,
                work / "flow.png",
                picture_window(case),
                title=f"{case.name}  Re={case.re:g}  C_D={result.cd:.6f}",
            )
            summary["files"] = [str(out / p.name) for p in [*fields, work / "flow.png"]]
            write_json({"result": summary, "case": case.to_dict()}, work / "summary.json", comm.rank)
    solver.destroy()  # collective, on every rank here (`FlowSolver.destroy`)
    return summary


def optimize_case(
    case: Case,
    out: Path,
    method: str = "newton",
    shape: Path | None = None,
    surrogate: Path | None = None,
    refit: bool = False,
    progress: Callable | None = None,
    comm=MPI.COMM_WORLD,
    workers: int = 1,
    start: np.ndarray | None = None,
) -> tuple[OptimizationResult, dict]:
    """Minimise the case's objective by `method` (`OPTIMIZERS`: `newton`, `adjoint` or `surrogate`, the last
    with the surrogate file `surrogate`, refit on its dataset with `refit`) and write the run directory.

    The run is written to a fresh folder that takes the place of `out` when it is complete
    (`staged_folder`): interrupted, an earlier run in `out` stays as it was and the new history is kept
    beside it (`NAME.partial`, named in the error), or in `out` if it held no run.
    `progress(step)` gets each iteration (`Iteration` or `TrustStep`) after history.json has it.
    Over an operating range of Re, `workers` processes solve its K flows (`MultipointFunctional`). The
    start is the shape file `shape`, else the parameters `start` (m,), else the case's shape.
    Returns the result and the summary written to summary.json.
    """
    s0 = start if shape is None else read_shape_file(shape, body_shape(case))
    chosen = optimizer(method)
    check_goal(case, method)
    if chosen.uses_surrogate and refit:
        refuse_operating_range(case, "--refit")
    route = _surrogate_route(surrogate, refit) if chosen.uses_surrogate else None
    if route is not None:  # its dataset is read (and with `refit` grown): not in the folder replaced
        refuse_writing_over_inputs(out, [trained_on(route.model, route.source)], folder=True)
    problem = DragProblem(case, comm)
    # over an operating range of Re: K flows on the one mesh
    J = (
        MultipointFunctional(problem, workers=workers)
        if case.objective.multipoint
        else ReducedFunctional(problem)
    )
    history: list[dict] = []
    with (
        problem,
        _closing(J),
        staged_folder(out, comm) as work,
    ):  # the problem's PETSc objects destroyed on every rank

        def save_step(step) -> None:
            history.append(asdict(step))
            record = {"case": case.name, "method": method, "history": history}
            write_json(record, work / "history.json", comm.rank)
            if progress is not None:
                progress(step)

        if route is not None:
            # the whole operating range (its ends, not only the quadrature's points) or the points
            route.check(problem, [float(re) for re in case.objective.re_range or operating_points(J)[0]])
        reference = None
        if case.objective.goal == "worst-regret":
            result, reference = minimise_worst_regret(J, s0, method, save_step)
        else:
            result = chosen.run(J, s0, save_step, route)
        table = (
            {"extra": {"operating_range": operating_range_table(J, result, reference)}}
            if case.objective.multipoint
            else {}
        )
        summary = write_run(result, J, work, comm, **table)
    return result, summary


@contextmanager
def _closing(J: ReducedFunctional) -> Iterator[None]:
    """End J's worker processes, if it has any (`MultipointFunctional.close`), when the block ends."""
    try:
        yield
    finally:
        if isinstance(J, MultipointFunctional):
            J.close()


def _surrogate_route(path: Path | None, refit: bool) -> SurrogateRoute:
    """The surrogate route of `--surrogate FILE` (with `--refit`: refit on its dataset, written back to
    FILE), or `CaseError` in one line."""
    if path is None:
        raise CaseError("--method surrogate needs --surrogate FILE")
    return SurrogateRoute.open(path, refit)


def write_run(
    result: OptimizationResult,
    J: ReducedFunctional,
    out: Path,
    comm=MPI.COMM_WORLD,
    extra: dict | None = None,
) -> dict:
    """shape.json, history.json, summary.json, flow.png, shapes.png, history.png and iterates.png of an
    optimization; `extra` is added to the summary. The flow picture shows `result.final_state` (no
    solve). Returns the summary."""
    problem = J.problem
    case = problem.case
    initial, final = result.initial, result.final
    summary = result.to_dict() | {"case": case.to_dict()}
    summary |= {key: getattr(final, key) for key in ("length", "height", "active_bounds")}
    summary.pop("history")
    summary |= extra or {}
    write_json(final.to_dict(), out / "shape.json", comm.rank)
    history = [asdict(h) for h in result.history]
    write_json(
        {"case": case.name, "method": result.method, "history": history}, out / "history.json", comm.rank
    )
    write_json(summary, out / "summary.json", comm.rank)
    if comm.rank == 0:
        write_optimum_outline(J, final, out / "outline.csv")
    problem.move_to(np.asarray(final.s))  # the mesh of the final shape, with the state solved on it
    problem.solver.set_state(result.final_state)
    u, _ = problem.solver.split()
    # over an operating range the state kept is the highest Re's (`MultipointFunctional`)
    flow_re = f"  flow at Re {J.res[-1]:g}" if case.objective.multipoint else ""
    render_speed(
        u,
        problem.flow_mesh,
        out / "flow.png",
        picture_window(case),
        title=f"{case.name} optimized  {final.objective}={final.objective_value:.5f}{flow_re}",
    )
    if comm.rank == 0:
        plot_shapes(
            problem.space.shape,
            [("initial", np.asarray(initial.s)), ("optimized", np.asarray(final.s))],
            out / "shapes.png",
            title=("" if case.objective.multipoint else f"Re {J.re:g}: ") + f"{final.objective} "
            f"{initial.objective_value:.4f} → {final.objective_value:.4f}",
        )
        plot_history(history, out / "history.png", title=f"{case.name}, {result.method}")
        plot_iterates(
            problem.space.shape,
            [np.asarray(h["s"]) for h in history],
            out / "iterates.png",
            title=f"{case.name}, {result.method}: {len(history)} iterates",
        )
    return summary


def write_optimum_outline(J: ReducedFunctional, final: ShapeSummary, path: Path) -> None:
    """outline.csv and outline.dat: the optimum as the solver's body, its boundary nodes (x, y) in the
    case's frame (`FlowConfiguration.frame`)."""
    space, case = J.space, J.problem.case
    header = {
        "case": case.name,
        "re": J.re,
        "cd": final.objective_value,
        "area_ratio": final.area_ratio,
        "centroid": final.centroid,
        "fix_centroid": space.fix_centroid,
        "min_thickness": case.constraints.min_thickness,  # in D
        "points": f"x, y in {case.domain.flow.frame}, counter-clockwise from the rear tip; "
        "points 2k, 2k+1, 2k+2 are the start, middle and end of the mesh's quadratic boundary edge k"
        + ("; a row of nan between two bodies" if len(case.domain.bodies) > 1 else ""),
    }
    write_outline(space.boundary(np.asarray(final.s)), path, header)


def show_run(
    directory: Path,
    field: str = "speed",
    screenshot: Path | None = None,
    size: tuple[int, int] = (1600, 800),
    level: str | None = None,
) -> tuple[Path | None, float]:
    """Picture of an optimization run: the optimized body's flow (`field`: speed or pressure) with the
    initial and optimized outlines; off screen to `screenshot`, else in a window. Returns (path, C_D)."""
    case, initial, final = read_run(directory, level)
    problem = DragProblem(case)
    fitted = last_mesh_shape(directory) if level is None else None
    if fitted is not None:  # the run's final mesh: generated for that shape, mapped to the optimum
        problem.remesh(fitted, "the run's last mesh")
    problem.follow(final, "the reference mesh cannot follow the optimum")
    evaluation = problem.evaluate(final)
    u, p = problem.solver.split()
    outlines = [
        ("initial", problem.space.shape.outline(initial), "grey"),
        ("optimized", problem.space.shape.outline(final), "black"),
    ]
    x, y = np.array(case.domain.bodies).T
    path = render_view(
        u,
        p,
        outlines,
        (x.min() - 2.0, x.max() + 6.0, y.min() - 2.0, y.max() + 2.0),
        field,
        screenshot,
        size,
        title=f"{case.name}  Re={case.re:g}  {case.objective.describe()}={evaluation.objective:.5f}",
    )
    return path, evaluation.objective


def last_mesh_shape(directory: Path) -> np.ndarray | None:
    """The shape (m,) the last mesh of the optimization run in `directory` was generated for (its
    `remeshes`), None where it ended on the reference mesh; `read_run` has checked the summary."""
    remeshes = read_json(Path(directory) / "summary.json", "run summary").get("remeshes")
    if not remeshes:
        return None
    return shape_parameters(remeshes[-1]["s"], f"{directory}: remeshes")


def read_run(directory: Path, level: str | None = None) -> tuple[Case, np.ndarray, np.ndarray]:
    """The case (at mesh `level`, default the run's) and the initial and final parameters of the
    optimization run in `directory`, checked as a case file and a shape file are: `CaseError` in one line
    for a folder that is not a run, or a summary that a case file or a shape file could not hold."""
    path = Path(directory) / "summary.json"
    try:
        folder, found = Path(directory).is_dir(), path.exists()
    except OSError as exc:  # a name longer than the system takes
        raise CaseError(f"cannot read the run {shown(directory)}: {exc.strerror or exc}") from None
    if not folder or not found:
        missing = "not a folder" if not folder else f"{path} missing"
        raise CaseError(f"{directory} is not an optimization run directory ({missing})")
    summary = read_json(path, "run summary")
    try:
        saved, initial, final = summary["case"], summary["initial"]["s"], summary["final"]["s"]
    except (KeyError, TypeError) as exc:
        raise CaseError(f"{directory}: cannot read the run ({exc.__class__.__name__}: {exc})") from None
    case = case_from_dict(saved, source=str(path)).with_overrides(level=level)
    shape = body_shape(case)
    parameters = []
    for name, values in (("initial", initial), ("final", final)):
        s = shape_parameters(values, f"{path}: {name}.s")
        if s.shape != (shape.size,):
            raise CaseError(
                f"{path}: {name}.s has {s.size} parameters, the run's case ({shape.kind} with "
                f"{shape.modes} modes) has {shape.size}"
            )
        parameters.append(s)
    return case, *parameters
