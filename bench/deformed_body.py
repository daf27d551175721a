"""A strongly deformed body on the morphed reference mesh and on a regenerated body-fitted mesh.

The body is a symmetric lens (two circular arcs, sharp tips, length/height 4) of the circle's area,
fitted by the B-spline radial form of cases/cylinder-re40.toml with `--modes` coefficients on knots of
stretch `--stretch` (1: uniform in θ). Prints, per mesh level, C_D on both routes, their difference,
the morph's quality, and the seconds of a solve from Stokes: morphed (the morph included) against
regenerated (gmsh meshing, function spaces and solve).

    .venv/bin/python bench/deformed_body.py [--levels coarse medium] [--modes 24] [--stretch 1] [--re 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from pathlib import Path

from reference_shapes import fit_radial, lens_radius

from shapeopt.cases import load_case
from shapeopt.fem.flow import FlowSolver
from shapeopt.fem.forces import ForceEvaluator
from shapeopt.fem.meshing import build_mesh
from shapeopt.fem.problem import DragProblem
from shapeopt.geometry.outlines import extent

CASES = Path(__file__).resolve().parents[1] / "cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=["coarse", "medium"])
    parser.add_argument("--modes", type=int, default=24)
    parser.add_argument("--stretch", type=float, default=1.0, help="knot stretch σ (1: uniform in θ)")
    parser.add_argument("--aspect", type=float, default=4.0, help="length / height of the lens")
    parser.add_argument("--re", type=float, default=40.0)
    args = parser.parse_args()
    print(
        f"Lens of length/height {args.aspect:g} at Re {args.re:g}, B-spline radial form with {args.modes} "
        f"coefficients, knot stretch {args.stretch:g}\n"
    )
    print(
        "| level | DOFs morphed / regenerated | C_D morphed | C_D regenerated | difference | morph quality "
        "| L/H of the fit | s morphed | s regenerated (meshing) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for level in args.levels:
        base = load_case(CASES / "cylinder-re40.toml").with_overrides(level=level, re=args.re)
        wide = dataclasses.replace(
            base.shape, parametrisation="bspline", modes=args.modes, bound=3.0, knot_stretch=args.stretch
        )
        case = dataclasses.replace(base, shape=wide)
        problem = DragProblem(case)
        shape = problem.space.shape
        s = fit_radial(shape, functools.partial(lens_radius, aspect=args.aspect))
        s, ok = problem.space.project(s[None, :])
        assert ok[0], "the lens's fit does not meet the constraints inside the bounds"
        s = s[0]
        length, height = extent(shape.outline(s, 4000))

        start = time.perf_counter()
        morphed = problem.evaluate(s)
        morphed_seconds = time.perf_counter() - start
        start = time.perf_counter()
        problem.solver.solve(re=args.re)  # the same solve from Stokes, without the morph
        solve_only = time.perf_counter() - start

        start = time.perf_counter()
        fitted = build_mesh(case, body=functools.partial(shape.outline_at, s=s))
        mesh_seconds = time.perf_counter() - start
        solver = FlowSolver(fitted, case)
        solver.solve(re=args.re)
        regenerated = ForceEvaluator(solver).volume().cd
        regenerated_seconds = time.perf_counter() - start
        print(
            f"| {level} | {problem.solver.dofs} / {solver.dofs} | {morphed.objective:.5f} "
            f"| {regenerated:.5f} | {morphed.objective / regenerated - 1:+.2e} | {morphed.quality:.3f} "
            f"| {length / height:.2f} "
            f"| {morphed_seconds:.2f} (solve {solve_only:.2f}) "
            f"| {regenerated_seconds:.2f} ({mesh_seconds:.2f}) "
            f"| {regenerated_seconds / morphed_seconds:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
