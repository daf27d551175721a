"""Helpers shared by the commands: the case of the arguments, progress lines, shapes and run folders."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from shapeopt.cases import Case, load_case
from shapeopt.errors import CaseError


def load_args(args: argparse.Namespace, **overrides) -> Case:
    """The case named on the command line, with its --level (and other overrides) applied."""
    return load_case(args.case).with_overrides(level=args.level, **overrides)


def status_line(text: str) -> None:
    """A progress line on stderr (stdout stays free for --json)."""
    print(text, file=sys.stderr, flush=True)


def report(args: argparse.Namespace, data: dict, text: str, rank: int = 0) -> None:
    """A command's result on stdout, once (rank 0): one JSON object with --json, else `text`."""
    if rank == 0:
        print(json.dumps(data) if args.json else text)


def read_shape(path: Path, problem) -> np.ndarray:
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


def write_run(result, problem, out: Path, comm) -> dict:
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
        picture_window(case),
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


def optimize_text(result, out: Path) -> str:
    """The summary lines that `optimize` and `run` print."""
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


def picture_window(case: Case) -> tuple[float, float, float, float]:
    if case.domain.kind == "dfg-channel":
        from shapeopt.meshing import DFG_HEIGHT, DFG_LENGTH

        return (0.0, DFG_LENGTH, 0.0, DFG_HEIGHT)
    return (-3.0, 12.0, -3.5, 3.5)
