"""The body in the DFG 2D-1 channel, shape free, against the same body in the free stream at equal Re.

For each case (the channel at Re 20 and 40, `cases/dfg-2d1-optimize*.toml`, and the free-stream
`cases/cylinder-re20|40.toml`): the least-drag body by the Newton optimizer and by SLSQP with adjoint
gradients (`shapeopt optimize --method newton|adjoint` into OUT/<case>-<method>, reused when there),
then the circle and the Newton optimum solved on every mesh level. Prints the optimization table, the
mesh convergence of C_D, and the cost of a solve and of the adjoint at the default level (medium): DOFs,
a solve from Stokes, a warm solve (from the last state, after a small shape change) and the adjoint.

    OMP_NUM_THREADS=1 .venv/bin/python bench/channel.py --out runs/channel
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from costs import solve_costs
from fem_counts import stored_or_optimized

from shapeopt.app.runs import solve_case
from shapeopt.cases import LEVELS, load_case
from shapeopt.errors import ShapeoptError
from shapeopt.fem.problem import DragProblem

CASES = Path(__file__).resolve().parents[1] / "cases"
NAMES = ("dfg-2d1-optimize", "dfg-2d1-optimize-re40", "cylinder-re20", "cylinder-re40")
METHODS = ("newton", "slsqp")


def solved_cd(case, shape: Path | None = None) -> str:
    """C_D of the case's circle or of `shape` (shape.json) on the case's level, or why it has none."""
    try:
        return f"{solve_case(case, shape)['cd']:.5f}"
    except ShapeoptError as exc:
        return f"refused ({exc.__class__.__name__})"


def drag_parts(case, shape: Path) -> list[tuple[float, float]]:
    """Pressure and viscous parts of C_D (`ForceEvaluator.drag_parts`) of the circle and of `shape`
    (shape.json), at the case's level."""
    s = np.asarray(json.loads(shape.read_text())["s"], dtype=float)
    with DragProblem(case) as problem:
        parts = []
        for shape_s in (np.zeros(problem.size), s):
            problem.evaluate(shape_s)
            parts.append(problem.forces.drag_parts()[0])
        return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/channel"))
    parser.add_argument("--level", default="medium", choices=LEVELS)
    args = parser.parse_args()
    cases = {name: load_case(CASES / f"{name}.toml").with_overrides(level=args.level) for name in NAMES}
    print(f"level {args.level}\n")
    print(
        "| case | Re | C_D circle | C_D optimum | change | length/height | tip angles front / rear "
        "| KKT | FEM solves newton | FEM solves adjoint | s newton | s adjoint | C_D adjoint − newton |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, case in cases.items():
        runs = {
            method: stored_or_optimized(case, args.out / f"{name}-{method}", method) for method in METHODS
        }
        (newton, history), (adjoint, _) = runs["newton"], runs["slsqp"]
        i, f = newton["initial"], newton["final"]
        print(
            f"| {name} | {case.re:g} | {i['cd']:.5f} | {f['cd']:.5f} | {f['cd'] / i['cd'] - 1:+.1%} "
            f"| {f['length'] / f['height']:.2f} | {f['front_angle']:.0f}° / {f['rear_angle']:.0f}° "
            f"| {history[-1]['kkt_residual']:.1e} | {newton['fem_solves']} | {adjoint['fem_solves']} "
            f"| {newton['seconds']:.0f} | {adjoint['seconds']:.0f} "
            f"| {adjoint['final']['cd'] / f['cd'] - 1:+.1e} |",
            flush=True,
        )
    print("\nC_D on each level (circle; Newton optimum of the default level, the same parameters):\n")
    print(
        "| case | "
        + " | ".join(f"circle {level}" for level in LEVELS)
        + " | "
        + " | ".join(f"optimum {level}" for level in LEVELS)
        + " |"
    )
    print("|---|" + "---|" * 2 * len(LEVELS))
    for name, case in cases.items():
        shape = args.out / f"{name}-newton" / "shape.json"
        circle = [solved_cd(case.with_overrides(level=level)) for level in LEVELS]
        optimum = [solved_cd(case.with_overrides(level=level), shape) for level in LEVELS]
        print(f"| {name} | " + " | ".join(circle + optimum) + " |", flush=True)
    print("\nPressure and viscous parts of C_D (surface integrals), circle and Newton optimum:\n")
    print(
        "| case | circle: pressure / viscous | optimum: pressure / viscous | viscous share at the optimum |"
    )
    print("|---|---|---|---|")
    for name, case in cases.items():
        (cp, cv), (op, ov) = drag_parts(case, args.out / f"{name}-newton" / "shape.json")
        print(f"| {name} | {cp:.3f} / {cv:.3f} | {op:.3f} / {ov:.3f} | {ov / (op + ov):.0%} |", flush=True)
    print(f"\nCost at level {args.level} (one process):\n")
    print("| case | DOFs | solve from Stokes s | warm solve s | adjoint s | adjoint / warm solve |")
    print("|---|---|---|---|---|---|")
    for name, case in cases.items():
        dofs, cold, warm, adjoint = solve_costs(case)
        print(
            f"| {name} | {dofs} | {cold:.2f} | {warm:.2f} | {adjoint:.2f} | {adjoint / warm:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
