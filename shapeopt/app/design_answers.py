"""Learned least-drag shapes for conditions, without the solver: the `design` command and the Python API.

`Designer(case, model)` opens a designer file (`shapeopt.app.designer.DesignerModel`; by default the one
shipped for the default design space, `DEFAULT_MODEL`) for a case, after checking that it answers for the
case's parametrisation, reference mesh and objective. `Designer.answers(conditions)` answers many
conditions (n, 3) per call: admissible shapes (n, m) and predicted gaps (n,), no FEM solve.
`design_conditions` answers conditions into run folders (shape.json, outline files, shapes.png,
design.json) and with `verify` spends FEM solves: Newton from the answer where the predicted gap reaches
the tolerance (the folder is then an optimization run as `optimize` writes it, beside design.json), else
one solve for its FEM drag.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from shapeopt.app.atlas_starts import Conditions, case_for
from shapeopt.app.designer import AREA_RANGE, RE_RANGE, THICKNESS_RANGE, DesignerModel
from shapeopt.app.designer_physics import FEMDesignPhysics
from shapeopt.app.runs import optimize_case, picture_window, write_optimum_outline
from shapeopt.cases import Case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.designs import parameter_spec
from shapeopt.errors import CaseError
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem
from shapeopt.files import staged_folder, write_json
from shapeopt.viz.pictures import render_speed
from shapeopt.viz.plots import plot_shapes
from surrogates.spec import ParameterSpec

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "designer-bspline16-medium.pt"
# `--verify` runs Newton from an answer whose predicted gap reaches this (relative C_D).
GAP_TOLERANCE = 1e-4


class Designer:
    """Learned answers for `case`'s design space from the designer file `model` (default
    `DEFAULT_MODEL`); a context manager (it holds the case's mesh, for the exact projection)."""

    def __init__(self, case: Case, model: Path | None = None, comm=MPI.COMM_SELF):
        self.path = DEFAULT_MODEL if model is None else Path(model)
        self.model = DesignerModel.load(self.path)
        self.case = case
        self.problem = DragProblem(case, comm)
        try:
            self._check()
        except CaseError:
            self.problem.close()
            raise
        self.physics = FEMDesignPhysics(self.problem)

    def _check(self) -> None:
        meta, problem = self.model.meta, self.problem
        found = ParameterSpec.from_dict(meta["spec"]).differences(parameter_spec(self.case))
        if meta["mesh_sha256"] != problem.flow_mesh.sha256:
            found.append(f"reference mesh of level {meta['level']}, not the case's {self.case.level} mesh")
        objective = self.case.objective.describe()
        if meta.get("objective", "C_D") != objective or self.case.objective.multipoint:
            found.append(f"objective {meta.get('objective', 'C_D')}, not {objective}")
        if found:
            raise CaseError(
                f"the designer {self.path} does not answer for {self.case.name}: {'; '.join(found)}"
            )

    def __enter__(self) -> Designer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free the mesh and solver."""
        self.problem.close()

    def answers(self, conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shapes (n, m) for conditions (n, 3) (Re, area ratio, least thickness in D), each admissible for
        its conditions, and their predicted gaps (C_D(s) − C_D*) / C_D* (n,); no FEM solve. Conditions
        outside the ranges the designer was trained on are refused (`CaseError`, naming the first)."""
        conditions = np.asarray(conditions, dtype=float).reshape(-1, 3)
        ranges = (RE_RANGE, AREA_RANGE, THICKNESS_RANGE)
        names = ("Re", "area ratio", "min thickness")
        for row in conditions:
            for value, (lo, hi), name in zip(row, ranges, names, strict=True):
                if not lo <= value <= hi:
                    raise CaseError(
                        f"{name} {value:g} is outside the designer's range [{lo:g}, {hi:g}] "
                        f"({Conditions(*row).text()})"
                    )
        return self.model.answer(self.physics, conditions)


def design_conditions(
    case: Case,
    grid: list[Conditions],
    out: Path,
    model: Path | None = None,
    verify: bool = False,
    tolerance: float = GAP_TOLERANCE,
    progress: Callable[[str], None] | None = None,
    comm=MPI.COMM_WORLD,
    sample: int = 0,
) -> dict[str, Any]:
    """The designer's answers for every conditions of `grid` on `case`'s design space (one batch, no FEM
    solve), written to `out` (one condition) or `out/<name>/` (several, with `out/design.json` holding
    every row); with `verify` checked by FEM (module docstring); `sample` conditions drawn at random
    (seed 0) are verified by Newton from the answer whatever their predicted gap, the rest are answered
    alone (`verify` then applies to none). A condition whose folder holds a
    design.json of the same model and verification is read back, not answered again. `progress` gets
    one line per condition. Returns the summary (one condition) or {"rows": [...]}."""
    start = time.perf_counter()
    with Designer(case_for(case, grid[0]), model, comm) as designer:
        conditions = np.array([[c.re, c.area_ratio, c.min_thickness] for c in grid])
        shapes, gaps = designer.answers(conditions)
        seconds = (time.perf_counter() - start) / len(grid)
        rows, pending = [], []
        sampled = set(np.random.default_rng(0).permutation(len(grid))[:sample].tolist())
        for index, (c, s, predicted) in enumerate(zip(grid, shapes, gaps, strict=True)):
            folder = out if len(grid) == 1 else out / c.name
            row = {
                "case": case.name,
                "conditions": asdict(c),
                "model": str(designer.path),
                "method": designer.model.meta["method"],
                "s": s.tolist(),
                "predicted_gap": None if np.isnan(predicted) else float(predicted),  # NaN: no prediction
                "answer_seconds": seconds,
                "fem_solves": 0,
                "verify": "newton" if index in sampled else verify,
            }
            done = _finished(folder, row)
            if done is not None:
                rows.append(done)
            elif index in sampled or (verify and not sample and not predicted < tolerance):
                rows.append(row)
                pending.append((len(rows) - 1, c, s, folder))  # Newton, after the designer's mesh is freed
            else:
                with staged_folder(folder, comm) as work:
                    row |= _write_answer(designer, c, s, float(predicted), work, verify and not sample, comm)
                    write_json(row, work / "design.json", comm.rank)
                rows.append(row)
            newton_later = bool(pending) and pending[-1][0] == len(rows) - 1
            if progress is not None and not newton_later:
                progress(_row_line(rows[-1]))
    for index, c, s, folder in pending:
        result, _ = optimize_case(case_for(case, c), folder, "newton", start=s, comm=comm)
        rows[index] |= {
            "verified": "newton",
            "cd": result.final.objective_value,
            "cd_answer": result.initial.objective_value,
            "gap": result.initial.objective_value / result.final.objective_value - 1,
            "kkt": result.history[-1].kkt_residual,
            "fem_solves": result.fem_solves,
            "converged": result.converged,
        }
        write_json(rows[index], folder / "design.json", comm.rank)
        if progress is not None:
            progress(_row_line(rows[index]))
    if len(grid) == 1:
        return rows[0]
    table = {"case": case.name, "rows": rows}
    write_json(table, out / "design.json", comm.rank)
    return table


def _finished(folder: Path, row: dict[str, Any]) -> dict[str, Any] | None:
    """The row of `folder`'s design.json where it answers the same conditions by the same model with the
    same verification, else None."""
    try:
        done = json.loads((folder / "design.json").read_text())
    except (OSError, ValueError):
        return None
    keys = ("conditions", "model", "method", "verify")
    return done if isinstance(done, dict) and all(done.get(k) == row[k] for k in keys) else None


def _row_line(row: dict[str, Any]) -> str:
    """One progress line: the conditions, the predicted gap and what verification found."""
    text = Conditions(**row["conditions"]).text()
    predicted = row["predicted_gap"]
    line = f"{text}: predicted gap {'none' if predicted is None else f'{predicted:.1e}'}"
    if row.get("verified") == "newton":
        line += f", Newton C_D {row['cd_answer']:.6f} → {row['cd']:.6f} (gap {row['gap']:.1e}, "
        line += f"{row['fem_solves']} FEM solves)"
    elif row.get("verified") == "solve":
        line += f", FEM C_D {row['cd']:.6f}, KKT {row['kkt']:.1e}"
    return line


def _write_answer(
    designer: Designer,
    conditions: Conditions,
    s: np.ndarray,
    predicted: float,
    work: Path,
    verify: bool,
    comm,
) -> dict[str, Any]:
    """shape.json, outline.csv/.dat and shapes.png of the answer `s` in `work`; with `verify`, its FEM drag
    and KKT residual (one solve) and flow.png. Returns what design.json adds."""
    J = ReducedFunctional(designer.problem, conditions.re, designer.physics.space(conditions))
    shape = J.space.shape
    added: dict[str, Any] = {"verified": None}
    if verify:
        evaluation = J.evaluate(s)
        added |= {
            "verified": "solve",
            "cd": evaluation.objective,
            "kkt": J.space.kkt_residual(s, evaluation.gradient),
            "fem_solves": 1,
        }
        u, _ = designer.problem.solver.split()
        title = f"{designer.case.name} designer answer  C_D={evaluation.objective:.5f}"
        render_speed(
            u, designer.problem.flow_mesh, work / "flow.png", picture_window(designer.case), title=title
        )
    else:
        designer.problem.move_to(s)
        evaluation = None
    area, area_ratio, centroid = J.space.measure(s)
    geometry = {
        "parametrisation": shape.kind,
        "modes": shape.modes,
        "r0": shape.r0,
        "center": list(shape.center),
        "names": shape.names(),
        "s": s.tolist(),
        "area": area,
        "area_ratio": area_ratio,
        "centroid": centroid.tolist(),
        "cd": added.get("cd"),
        "re": conditions.re,
        "level": designer.case.level,
        "mesh_sha256": designer.problem.flow_mesh.sha256,
        "predicted_gap": None if np.isnan(predicted) else predicted,
    }
    write_json(geometry, work / "shape.json", comm.rank)
    if comm.rank == 0:
        final = SimpleSummary(s, added.get("cd"), area_ratio, centroid)
        write_optimum_outline(J, final, work / "outline.csv")
        plot_shapes(
            shape,
            [("circle", np.zeros(shape.size)), ("designer", s)],
            work / "shapes.png",
            title=f"{conditions.text()}: predicted gap {predicted:.1e}",
        )
    return added


class SimpleSummary:
    """What `write_optimum_outline` reads of a shape: s, its objective (None before any solve), area
    ratio and centroid."""

    def __init__(self, s: np.ndarray, objective: float | None, area_ratio: float, centroid: np.ndarray):
        self.s, self.objective_value, self.area_ratio, self.centroid = (
            s,
            objective,
            area_ratio,
            centroid.tolist(),
        )
