"""Flow-solver benchmark: DFG 2D-1 accuracy and time per level, circle drag at Re 1-40, box-size study.

Run on one core (`OMP_NUM_THREADS=1`, serial): `make bench` or `.venv/bin/python bench/solver.py`.
Prints Markdown tables. "solve" is one call of `FlowSolver.solve` (Stokes guess + Newton) after the
forms are compiled: the first call includes MUMPS's symbolic analysis, later calls reuse it.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from shapeopt.cases import load_case
from shapeopt.fem.flow import FlowSolver
from shapeopt.fem.meshing import build_mesh
from shapeopt.fem.simulate import DFG_REFERENCE, summarize

CASES = Path(__file__).resolve().parents[1] / "cases"


def timed_solve(case, repeats: int = 3):
    """Mesh, solve once (first) and `repeats` more times; the result of the last solve and timings."""
    flow_mesh = build_mesh(case)
    solver = FlowSolver(flow_mesh, case)
    start = time.perf_counter()
    report = solver.solve()
    first = time.perf_counter() - start
    again = []
    for _ in range(repeats):
        start = time.perf_counter()
        report = solver.solve()
        again.append(time.perf_counter() - start)
    result = summarize(case, flow_mesh, solver, report, first)
    return result, flow_mesh.seconds, first, statistics.median(again) if again else first


def dfg_table(levels: list[str]) -> None:
    print("| level | DOFs | mesh s | solve s (first) | solve s (repeat) | Newton ", end="")
    print("| err C_D | err C_L | err Δp |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = load_case(CASES / "dfg-2d1.toml")
    for level in levels:
        result, mesh_s, first, repeat = timed_solve(base.with_overrides(level=level))
        errors = [abs(getattr(result, k) / DFG_REFERENCE[k] - 1) for k in ("cd", "cl", "pressure_drop")]
        print(
            f"| {level} | {result.dofs} | {mesh_s:.2f} | {first:.2f} | {repeat:.2f} | "
            f"{result.newton_iterations} | {errors[0]:.1e} | {errors[1]:.1e} | {errors[2]:.1e} |",
            flush=True,
        )


def circle_table(level: str) -> None:
    print(f"\nCircle, level {level}:\n\n| Re | C_D (volume) | C_D (surface) | DOFs | Newton | solve s |")
    print("|---|---|---|---|---|---|")
    for re in (1, 5, 10, 20, 40):
        case = load_case(CASES / f"cylinder-re{re}.toml").with_overrides(level=level)
        result, _, first, _ = timed_solve(case, repeats=0)
        print(
            f"| {re} | {result.cd:.5f} | {result.cd_surface:.5f} | {result.dofs} | "
            f"{result.newton_iterations} | {first:.2f} |",
            flush=True,
        )


def box_table(level: str) -> None:
    print(f"\nBox size, level {level}:\n")
    print("| box (upstream, downstream, half width) / D | C_D at Re 20 | change |")
    print("|---|---|---|")
    base = load_case(CASES / "cylinder-re20.toml").with_overrides(level=level)
    results = []
    for scale in (0.5, 1.0, 2.0):
        d = base.domain
        domain = dataclasses.replace(
            d, upstream=d.upstream * scale, downstream=d.downstream * scale, half_width=d.half_width * scale
        )
        result, *_ = timed_solve(dataclasses.replace(base, domain=domain), repeats=0)
        results.append(((domain.upstream, domain.downstream, domain.half_width), result.cd))
    for i, (box, cd) in enumerate(results):
        change = f"{(results[i + 1][1] - cd) / cd:+.2%} when doubled" if i + 1 < len(results) else ""
        print(f"| {box[0]:g}, {box[1]:g}, {box[2]:g} | {cd:.5f} | {change} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=["coarse", "medium", "fine"])
    parser.add_argument("--circle-level", default="medium")
    args = parser.parse_args()
    dfg_table(args.levels)
    circle_table(args.circle_level)
    box_table(args.circle_level)


if __name__ == "__main__":
    main()
