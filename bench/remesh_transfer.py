"""What a remesh costs, with the flow carried over as Newton's guess or solved again from Stokes.

At each level, the Re 40 case's shape one Newton step from the circle (`cylinder-re40.toml`, its first
accepted iterate): solved on the reference mesh, then a mesh generated for it (`DragProblem.remesh`) and
the same shape solved there, the state interpolated from the old mesh (`fem.transfer`) or from Stokes.
Prints a markdown table: mesh seconds, transfer seconds, Newton iterations and solve seconds, the total,
and the C_D jump between the meshes (the level's discretisation error; equal for both starts).

    OMP_NUM_THREADS=1 .venv/bin/python bench/remesh_transfer.py --levels coarse medium
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.newton import NEWTON_SETTINGS
from shapeopt.design.trust_region import CorrectedModel, minimise_model, no_surrogate
from shapeopt.fem.problem import DragProblem

CASE = Path(__file__).resolve().parents[1] / "cases" / "cylinder-re40.toml"


def one_row(level: str, carry: bool) -> str:
    """Remesh at the first Newton iterate of the case at `level`, carrying the state over or not."""
    with DragProblem(load_case(CASE).with_overrides(level=level)) as problem:
        J = ReducedFunctional(problem)
        start = J.space.feasible_start(problem.morph.fitted)[0]
        circle = J.evaluate(start)
        model = CorrectedModel.at(no_surrogate, circle, J.hessian(start))
        s = minimise_model(J, model, start, center=start, radius=NEWTON_SETTINGS.radius)
        before = problem.evaluate(s).objective
        began = time.perf_counter()
        remesh = problem.remesh(s, "bench", carry_state=carry)
        meshed = time.perf_counter() - began
        after = problem.evaluate(s)
        total = time.perf_counter() - began
        report = problem.newton
        iterations = report.iterations + report.stokes_iterations
        return (
            f"| {level} | {remesh.cells} | {'transferred' if carry else 'Stokes'} | {meshed:.2f} | "
            f"{iterations} | {after.seconds:.2f} | {total:.2f} | {after.objective / before - 1:+.1e} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=["coarse", "medium"])
    args = parser.parse_args()
    print(
        "| level | cells | Newton guess | mesh + transfer (s) | Newton iterations | solve (s) | total (s) "
        "| C_D jump |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for level in args.levels:
        for carry in (True, False):
            print(one_row(level, carry), flush=True)


if __name__ == "__main__":
    main()
