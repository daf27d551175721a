"""Commands on the flow and its shape: `solve`, `gradient`, `optimize`, `show`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from shapeopt.cli.common import (
    load_args,
    optimize_text,
    picture_window,
    read_shape,
    report,
    status_line,
    write_run,
)
from shapeopt.errors import CaseError


def solve_command(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.simulate import run_solve

    comm = MPI.COMM_WORLD
    case = load_args(args, re=args.re)
    if args.shape is None:
        result, solver = run_solve(case, comm)
        summary = result.to_dict()
    else:
        from shapeopt.problem import DragProblem
        from shapeopt.simulate import summarize

        start = time.perf_counter()
        problem = DragProblem(case, comm)
        evaluation = problem.evaluate(read_shape(args.shape, problem))
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
            picture_window(case),
            title=f"{case.name}  Re={case.re:g}  C_D={result.cd:.6f}",
        )
        summary["files"] = [str(p) for p in fields] + [str(args.out / "flow.png")]
        write_json({"result": summary, "case": case.to_dict()}, args.out / "summary.json", comm.rank)
    report(args, summary, _solve_text(summary), comm.rank)
    return 0


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


def gradient_command(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.problem import DragProblem
    from shapeopt.verify import taylor_test

    comm = MPI.COMM_WORLD
    case = load_args(args)
    problem = DragProblem(case, comm)
    s = np.zeros(problem.size) if args.shape is None else read_shape(args.shape, problem)
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
    report(args, out, _gradient_text(out), comm.rank)
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


def optimize_command(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from shapeopt.optimize import optimize_adjoint
    from shapeopt.output import write_json
    from shapeopt.problem import DragProblem

    comm = MPI.COMM_WORLD
    case = load_args(args)
    problem = DragProblem(case, comm)
    s0 = None if args.shape is None else read_shape(args.shape, problem)
    history: list[dict] = []

    def progress(item) -> None:
        history.append(item.__dict__)
        write_json(
            {"case": case.name, "method": args.method, "history": history},
            args.out / "history.json",
            comm.rank,
        )
        if comm.rank == 0:
            status_line(
                f"iter {item.iteration:3d}  C_D {item.cd:.8f}  violation {item.violation:.1e}  "
                f"|dC_D/ds| {item.gradient_norm:.2e}  KKT {item.kkt_residual:.1e}  "
                f"FEM solves {item.fem_solves}  {item.seconds:.1f} s"
            )

    if args.method == "surrogate":
        result = _surrogate_optimization(args.surrogate, args.out, problem, history, comm, args.refit)
    else:
        result = optimize_adjoint(problem, s0, progress)
    summary = write_run(result, problem, args.out, comm)
    report(args, summary, optimize_text(result, args.out), comm.rank)
    return 0 if result.converged else 6


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
            status_line(
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
        status_line(
            f"refit: appended {len(rows)} verified samples to {dataset}; fine-tuned {surrogate_path}: "
            f"test C_D error median {metrics['cd_error_median']:.2e}, max {metrics['cd_error_max']:.2e}"
        )
    return result


def show_command(args: argparse.Namespace) -> int:
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
        report(args, {"screenshot": str(path), "cd": evaluation.cd}, f"wrote {path}")
    return 0
