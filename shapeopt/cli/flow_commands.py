"""Commands on the flow and its shape: `solve`, `gradient`, `optimize`, `show`."""

from __future__ import annotations

import argparse
import time

import numpy as np

from shapeopt.cli.common import load_args, optimize_text, print_result, status_line
from shapeopt.errors import CaseError
from shapeopt.files import check_output_file, check_run_folder


def solve_command(args: argparse.Namespace) -> int:
    from shapeopt.app.runs import solve_case
    from shapeopt.fem import MPI

    comm = MPI.COMM_WORLD
    case = load_args(args, re=args.re)
    if args.out is not None:
        check_run_folder(args.out, inputs=[args.case, args.shape])
    summary = solve_case(case, args.shape, args.out, comm)
    print_result(args, summary, _solve_text(summary), comm.rank)
    return 0


def _solve_text(s: dict) -> str:
    lines = [
        f"case {s['case']}  Re {s['re']:g}  level {s['level']}  ranks {s['ranks']}",
        f"  C_D  {s['cd']:.8f}   (surface integral {s['cd_surface']:.8f})",
        f"  C_L  {s['cl']:.8f}   (surface integral {s['cl_surface']:.8f})",
    ]
    if s["pressure_drop"] is not None:
        lines.append(f"  Δp   {s['pressure_drop']:.8f}")
    if s.get("mesh", "reference") != "reference":
        lines.append(f"  mesh {s['mesh']}")
    for k, body in enumerate(s.get("bodies") or [], 1):
        x, y = body["center"]
        lines.append(f"  body {k} at ({x:g}, {y:g}): C_D {body['cd']:.8f}  C_L {body['cl']:.8f}")
    if s.get("objective"):
        lines.append(f"  objective {s['objective']['name']}: {s['objective']['value']:.8f}")
    lines += [
        f"  {s['dofs']} DOFs on {s['cells']} cells, {s['newton_iterations']} Newton iterations"
        + (f" after continuation through Re {s['continuation_steps']}" if s["continuation_steps"] else ""),
        f"  {s['seconds']:.2f} s (mesh {s['mesh_seconds']:.2f} s, solve {s['solve_seconds']:.2f} s)",
    ]
    if "files" in s:
        lines.append("  wrote " + ", ".join(s["files"]))
    return "\n".join(lines)


def gradient_command(args: argparse.Namespace) -> int:
    from shapeopt.app.runs import read_shape_file
    from shapeopt.designs import body_shape
    from shapeopt.fem import MPI
    from shapeopt.fem.problem import DragProblem

    comm = MPI.COMM_WORLD
    case = load_args(args)
    shape = body_shape(case)
    s = np.zeros(shape.size) if args.shape is None else read_shape_file(args.shape, shape)
    with DragProblem(case, comm) as problem:  # its PETSc objects destroyed on every rank at the end
        return gradient_of(args, problem, s, comm)


def gradient_of(args: argparse.Namespace, problem, s: np.ndarray, comm) -> int:
    """The `gradient` command on a built problem: dC_D/ds, dC_L/ds at `s`, and the Taylor test if asked."""
    from shapeopt.fem.verify import taylor_test

    case = problem.case
    start = time.perf_counter()
    problem.follow(s, "the reference mesh cannot follow the shape")
    evaluation = problem.evaluate(s, gradient=True)
    out = {
        "case": case.name,
        "re": case.re,
        "level": case.level,
        "mesh": problem.mesh_text(),
        "mesh_sha256": problem.flow_mesh.sha256,
        "names": problem.space.shape.names(),
        "s": s.tolist(),
        "cd": evaluation.objective,
        "cl": evaluation.lift,
        "dcd_ds": evaluation.gradient.tolist(),
        "dcl_ds": evaluation.lift_gradient.tolist(),
        "seconds": time.perf_counter() - start,
    }
    if args.check:
        checked = case.domain.flow.coefficients  # a body of revolution has no lift
        # keys as in the output (cd: the case's objective J, cl: its bodies' lift)
        quantities = {"cd": "objective", "cl": "lift"}
        taylor = {q: taylor_test(problem, s, quantities[q], seed=args.seed) for q in checked}
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
    print_result(args, out, _gradient_text(out), comm.rank)
    return 0


def _gradient_text(out: dict) -> str:
    lines = [
        f"case {out['case']}  Re {out['re']:g}  level {out['level']}  mesh {out['mesh']}",
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
    from shapeopt.app.optimizers import progress_line
    from shapeopt.app.runs import optimize_case
    from shapeopt.fem import MPI

    comm = MPI.COMM_WORLD
    case = load_args(args)
    if args.method != "surrogate" and (args.surrogate is not None or args.refit):
        raise CaseError("--surrogate and --refit apply to --method surrogate only")
    if args.workers < 1 or (args.workers > 1 and not case.objective.multipoint):
        raise CaseError(
            f"--workers {args.workers}: give 1 or more, and more than 1 only for an operating range of Re "
            "(objective.re_range or points)"
        )
    if args.workers > 1 and comm.size > 1:
        raise CaseError("--workers is for a serial run; under MPI the ranks share each solve")
    check_run_folder(args.out, inputs=[args.case, args.shape, args.surrogate])

    name = "worst regret" if case.objective.goal == "worst-regret" else "C_D"

    def progress(step) -> None:
        if comm.rank == 0:
            status_line(progress_line(args.method, step, name))

    result, summary = optimize_case(
        case, args.out, args.method, args.shape, args.surrogate, args.refit, progress, comm, args.workers
    )
    text = optimize_text(result, args.out, summary.get("operating_range"))
    print_result(args, summary, text, comm.rank)
    return 0 if result.converged else 6


def show_command(args: argparse.Namespace) -> int:
    from shapeopt.app.runs import show_run

    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        if len(size) != 2 or min(size) < 1:
            raise ValueError
    except ValueError:
        raise CaseError(f"--size {args.size!r}: expected WIDTHxHEIGHT in pixels, e.g. 1600x800") from None
    screenshot = args.screenshot or (args.out / f"show-{args.field}.png" if args.out else None)
    if screenshot is not None:
        check_output_file(screenshot, "show.png", inputs=[args.directory / "summary.json"])
    path, cd = show_run(args.directory, args.field, screenshot, size, args.level)
    if path is not None:
        print_result(args, {"screenshot": str(path), "cd": cd}, f"wrote {path}")
    return 0
