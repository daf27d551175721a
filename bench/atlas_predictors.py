"""How far each problem's start lies from its FEM optimum, per predictor, over a finished atlas.

For every problem of an atlas folder (in its order, each seeing only the optima before it, as the atlas
did): the distance (max-norm of s) from the FEM optimum to
- `nearest`: the atlas's warm start (`warm_start`: the nearest optimum found, or two extrapolated in ln Re);
- `surrogate`: the mirror-averaged surrogate at the problem's Re, minimised by SLSQP from that start within
  `--radius` under the problem's constraints (what the surrogate route would start from, searched
  locally);
- `shift`: the start moved by the surrogate's predicted shift of the optimum, argmin S(Re) − argmin S(Re')
  (both searched from the nearest optimum, Re' its Re), projected.
No FEM solve: the atlas's optima are the reference. Prints one row per problem and the sums.

    OMP_NUM_THREADS=1 .venv/bin/python bench/atlas_predictors.py --atlas runs/atlas-newton \\
        --surrogate data/wide-medium-160-sobolev.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import surrogates
from shapeopt.app.atlas import PROBLEMS, RECORD
from shapeopt.app.atlas_starts import Conditions, case_for, warm_start
from shapeopt.cases import case_from_dict
from shapeopt.design.surrogate_search import MirroredSurrogate
from shapeopt.design.trust_region import minimise_model
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atlas", type=Path, required=True, help="a finished atlas folder")
    parser.add_argument("--surrogate", type=Path, required=True)
    parser.add_argument("--radius", type=float, default=0.3, help="local search radius (max-norm of s)")
    args = parser.parse_args()
    model = surrogates.load(args.surrogate)
    record = json.loads((args.atlas / RECORD).read_text())
    base = case_from_dict(record["case"], str(args.atlas / RECORD))
    rows = json.loads((args.atlas / "atlas.json").read_text())["rows"]
    grid = [Conditions.of_row(row) for row in rows]
    optima = {
        c.name: np.array(
            json.loads((args.atlas / PROBLEMS / c.name / "summary.json").read_text())["final"]["s"]
        )
        for c in grid
    }
    with DragProblem(case_for(base, grid[0]), MPI.COMM_SELF) as problem:
        reference_space = problem.space
    mirror = reference_space.shape.mirror()

    def space_of(c: Conditions):
        return dataclasses.replace(
            reference_space,
            area_ratio=c.area_ratio,
            min_thickness=c.min_thickness * 2 * reference_space.shape.r0,
        )

    def surrogate_minimum(c: Conditions, start: np.ndarray) -> np.ndarray:
        J = SimpleNamespace(space=space_of(c))
        return minimise_model(
            J, MirroredSurrogate(model, mirror, c.re), start, center=start, radius=args.radius
        )

    print(f"atlas {args.atlas}, surrogate {args.surrogate}, radius {args.radius:g}\n")
    print("| problem | start from | FEM solves | nearest | surrogate | shift |\n|---|---|---|---|---|---|")
    found: dict[str, tuple[Conditions, np.ndarray]] = {}
    totals = np.zeros(3)
    for row, c in zip(rows, grid, strict=True):
        space = space_of(c)
        start, source = warm_start(space, c, found)
        local = surrogate_minimum(c, start)
        shift = local
        origin = source.split("+")[0]
        if origin in found:
            before = surrogate_minimum(found[origin][0], found[origin][1])
            projected, ok = space.project((start + local - before)[None, :])
            shift = projected[0] if ok[0] else start
        distances = [float(np.max(np.abs(s - optima[c.name]))) for s in (start, local, shift)]
        totals += distances
        print(
            f"| {c.name} | {source} | {row['fem_solves']} | "
            + " | ".join(f"{d:.4f}" for d in distances)
            + " |"
        )
        found[c.name] = (c, optima[c.name])
    print("| sum | | | " + " | ".join(f"{d:.3f}" for d in totals) + " |")


if __name__ == "__main__":
    main()
