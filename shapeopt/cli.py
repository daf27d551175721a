"""Command line: `shapeopt <command> CASE [options]`. Parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shapeopt.cases import LEVELS, Case, load_case
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
    solve.set_defaults(run=_solve)
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
    result, solver = run_solve(case, comm)
    summary = result.to_dict()
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
