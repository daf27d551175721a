"""Adjoint benchmark: cost of one shape gradient vs one nonlinear solve, and FEM-adjoint drag reduction.

Serial, one core: `.venv/bin/python bench/optimize.py [--level medium] [--out runs/bench-adjoint]`.
Prints Markdown tables and writes `shapes.png` (optimized shapes at every Re) under `--out`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.slsqp import optimize_slsqp
from shapeopt.fem.problem import DragProblem
from shapeopt.viz.plots import plot_shapes

CASES = Path(__file__).resolve().parents[1] / "cases"


def cost_table(level: str, repeats: int = 3) -> None:
    """Seconds of a cold nonlinear solve (Stokes + Newton), a warm one, and one adjoint gradient."""
    problem = DragProblem(load_case(CASES / "cylinder-re40.toml").with_overrides(level=level))
    s = 0.02 * np.random.default_rng(0).standard_normal(problem.size)
    problem.morph.apply(s)
    cold, warm, gradient = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        problem.solver.solve()
        cold.append(time.perf_counter() - start)
        state = problem.state()
        start = time.perf_counter()
        problem.solver.solve(initial=state * (1 + 1e-3))
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        problem.adjoint.gradients()
        gradient.append(time.perf_counter() - start)
    c, w, g = (statistics.median(v) for v in (cold, warm, gradient))
    print(
        f"Adjoint cost, cylinder Re 40, level {level}, {problem.solver.dofs} DOFs, "
        f"{problem.size} parameters:\n"
    )
    print(
        "| nonlinear solve s (Stokes + Newton) | warm-started solve s | gradient of C_D and C_L s | ratio |"
    )
    print("|---|---|---|---|")
    print(f"| {c:.3f} | {w:.3f} | {g:.3f} | {g / c:.3f} |\n", flush=True)


def optimization_table(level: str, out: Path) -> None:
    print(f"FEM-adjoint optimization (SLSQP), level {level}:\n")
    print(
        "| Re | C_D circle | C_D optimized | change | iterations | FEM solves | area violation "
        "| KKT residual | seconds | stop |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    shapes = []
    for re in (1, 5, 10, 20, 40):
        problem = DragProblem(load_case(CASES / f"cylinder-re{re}.toml").with_overrides(level=level))
        result = optimize_slsqp(ReducedFunctional(problem))
        last = result.history[-1]
        i, f = result.initial, result.final
        print(
            f"| {re} | {i.objective_value:.5f} | {f.objective_value:.5f} "
            f"| {f.objective_value / i.objective_value - 1:+.2%} "
            f"| {len(result.history) - 1} "
            f"| {result.fem_solves} | {abs(f.area_ratio - 1):.1e} | {last.kkt_residual:.1e} "
            f"| {result.seconds:.1f} | {result.message} |",
            flush=True,
        )
        shapes.append((f"Re {re}: C_D {f.objective_value:.3f}", np.asarray(f.s)))
        shape = problem.space.shape
    plot_shapes(
        shape,
        [("circle", np.zeros(shape.size)), *shapes],
        out / "shapes.png",
        title=f"Drag-optimal shapes at the circle's area, level {level}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="medium")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-adjoint"))
    args = parser.parse_args()
    cost_table(args.level)
    optimization_table(args.level, args.out)


if __name__ == "__main__":
    main()
