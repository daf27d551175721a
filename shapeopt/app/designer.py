"""Learned answers: a designer network trained through the FEM, saved, loaded and asked for shapes.

A designer file holds the ensemble's weights, the parametrisation and reference mesh it answers for
(`parameter_spec`, mesh hash, level, the case), the range of conditions it was trained on, the local
models it saw (conditions, tangent Hessian P H P and J at each answer the solver rated, for the predicted
gap) and its training record (FEM solves, Hessians). `DesignerModel.answer` gives, for conditions
(n, 3), admissible shapes (n, m) and their predicted gaps (n,), without any FEM solve.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shapeopt.app.atlas import PROBLEMS, RECORD
from shapeopt.app.atlas_starts import Conditions
from shapeopt.app.designer_physics import FEMDesignPhysics, conditions_of
from shapeopt.designs import parameter_spec
from shapeopt.errors import CaseError
from shapeopt.fem.problem import DragProblem
from surrogates.designer import DesignerEnsemble, predicted_gap
from surrogates.designer_training import DesignerTraining, TrainingRecord, train_designer

FORMAT = "shapeopt-designer/1"
# The conditions of the held-out draw and of the training rounds: Re log-uniform, area ratio uniform,
# thickness 0 for half of the conditions and uniform for the rest (in D).
RE_RANGE = (1.0, 40.0)
AREA_RANGE = (0.9, 1.1)
THICKNESS_RANGE = (0.0, 0.5)
# The predicted gap is the quadratic model's gap at the members' spread times this calibration, the
# upper decile of (gap of the solver's Newton model) / (spread's quadratic gap) over the training rounds.
COVERAGE_QUANTILE = 0.9


def draw_conditions(rng: np.random.Generator, n: int) -> np.ndarray:
    """n conditions (n, 3) (Re, area ratio, thickness in D): Re log-uniform in `RE_RANGE`, area uniform in
    `AREA_RANGE`; every second one has thickness 0, the others uniform in `THICKNESS_RANGE`."""
    re = np.exp(rng.uniform(math.log(RE_RANGE[0]), math.log(RE_RANGE[1]), n))
    area = rng.uniform(*AREA_RANGE, n)
    thickness = rng.uniform(*THICKNESS_RANGE, n)
    thickness[::2] = 0.0
    return np.column_stack([re, area, thickness])


@dataclass
class AtlasOptima:
    """The optima of a finished atlas folder: conditions (n, 3), shapes (n, m), and the FEM solves
    (reference solves included) the atlas spent."""

    conditions: np.ndarray
    optima: np.ndarray
    fem_solves: int


def read_atlas_optima(folder: Path) -> AtlasOptima:
    """The optima of the atlas in `folder` (`shapeopt atlas`); `CaseError` if it is not a finished atlas."""
    try:
        rows = json.loads((folder / "atlas.json").read_text())["rows"]
        optima = [
            json.loads((folder / PROBLEMS / Conditions.of_row(row).name / "summary.json").read_text())[
                "final"
            ]["s"]
            for row in rows
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CaseError(f"{folder} is not a finished atlas ({error})") from None
    return AtlasOptima(
        conditions=np.array(
            [[row["re"], row["area_ratio"], row["min_thickness"]] for row in rows], dtype=float
        ),
        optima=np.array(optima, dtype=float),
        fem_solves=int(sum(row["fem_solves"] + row.get("reference_solves", 0) for row in rows)),
    )


def atlas_case(folder: Path) -> dict[str, Any]:
    """The resolved case an atlas folder was made for (its record)."""
    return json.loads((folder / RECORD).read_text())["case"]


class DesignerModel:
    """A trained designer with what it answers for (see the module docstring)."""

    def __init__(self, ensemble: DesignerEnsemble, meta: dict[str, Any]):
        self.ensemble, self.meta = ensemble, meta
        local = meta["local_models"]
        self._local_conditions = np.array(local["conditions"], dtype=float).reshape(-1, 3)
        self._local_hessians = np.array(local["hessians"], dtype=float)
        self._local_objective = np.array(local["objective"], dtype=float)

    @classmethod
    def train(
        cls,
        problem: DragProblem,
        seed: AtlasOptima,
        settings: DesignerTraining,
        rng: np.random.Generator,
        members: int = 4,
        progress: Callable[[int, TrainingRecord, DesignerEnsemble], None] | None = None,
    ) -> tuple[DesignerModel, TrainingRecord]:
        """Train on `problem`'s mesh from the seed atlas's optima by `settings` (fresh conditions from
        `draw_conditions` with `rng`); the rounds' local models are kept for the predicted gap."""
        ensemble = DesignerEnsemble(problem.size, members=members)
        record = train_designer(
            ensemble,
            FEMDesignPhysics(problem),
            seed.conditions,
            seed.optima,
            lambda n: draw_conditions(rng, n),
            settings,
            progress,
        )
        rated = record.rated
        meta = {
            "format": FORMAT,
            "spec": parameter_spec(problem.case).to_dict(),
            "mesh_sha256": problem.flow_mesh.sha256,
            "level": problem.case.level,
            "objective": problem.case.objective.describe(),
            "method": settings.method,
            "rounds": settings.rounds,
            "per_round": settings.per_round,
            "steer": settings.steer,
            "members": members,
            "width": ensemble.nets[0].width,
            "depth": ensemble.nets[0].depth,
            "ranges": {"re": RE_RANGE, "area_ratio": AREA_RANGE, "min_thickness": THICKNESS_RANGE},
            "fem_solves": seed.fem_solves + (record.solves[-1] if record.solves else 0),
            "hessians": record.hessians[-1] if record.hessians else 0,
            "local_models": {
                "conditions": [c.tolist() for conditions, _, _ in rated for c in conditions],
                "hessians": [h.tolist() for _, local, _ in rated for h in local.hessian],
                "objective": [float(j) for _, local, _ in rated for j in local.objective],
            },
            "gap_factor": 1.0,
        }
        model = cls(ensemble, meta)
        model.meta["gap_factor"] = model._calibration(record)
        return model, record

    def _calibration(self, record: TrainingRecord) -> float:
        """The factor by which the spread's quadratic gap covers the Newton model's gap at the rounds'
        answers in `COVERAGE_QUANTILE` of them (1 where no round was rated)."""
        ratios = [
            gap / raw
            for conditions, local, spread in record.rated
            for c, d, gap in zip(conditions, spread, local.model_gap, strict=True)
            if (raw := predicted_gap(d, *self._nearest_local(c), 1.0)) > 0
        ]
        return float(np.quantile(ratios, COVERAGE_QUANTILE)) if ratios else 1.0

    def _nearest_local(self, conditions: np.ndarray) -> tuple[np.ndarray, float]:
        """P H P (m, m) and J of the local model nearest to conditions (3,) (`Conditions.coordinates`)."""
        here = Conditions(*map(float, conditions)).coordinates()
        distances = [np.linalg.norm(c.coordinates() - here) for c in conditions_of(self._local_conditions)]
        k = int(np.argmin(distances))
        return self._local_hessians[k], float(self._local_objective[k])

    def answer(self, physics: FEMDesignPhysics, conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Admissible shapes (n, m) for conditions (n, 3) and their predicted gaps (n,; NaN for a model
        trained without Hessians); no FEM solve."""
        conditions = np.asarray(conditions, dtype=float).reshape(-1, 3)
        raw, spread = self.ensemble(conditions)
        shapes = physics.answer(conditions, raw)
        if not len(self._local_objective):
            return shapes, np.full(len(shapes), np.nan)
        factor = self.meta["gap_factor"]
        gaps = [
            predicted_gap(d, *self._nearest_local(c), factor) for c, d in zip(conditions, spread, strict=True)
        ]
        return shapes, np.array(gaps)

    def save(self, path: Path) -> None:
        """Write the model to `path` (torch file: meta and the members' weights)."""
        torch.save({"meta": self.meta, "members": self.ensemble.state_dicts()}, path)

    @classmethod
    def load(cls, path: Path) -> DesignerModel:
        """A model `save` wrote; `CaseError` naming the fault for any other file."""
        try:
            stored = torch.load(path, weights_only=False, map_location="cpu")
            meta = stored["meta"]
            if meta.get("format") != FORMAT:
                raise ValueError(f"not a designer file (format {meta.get('format')!r})")
            ensemble = DesignerEnsemble(
                len(meta["spec"]["names"]), members=meta["members"], width=meta["width"], depth=meta["depth"]
            )
            ensemble.load_state_dicts(stored["members"])
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            RuntimeError,
            EOFError,
            pickle.UnpicklingError,
        ) as error:
            raise CaseError(f"cannot read the designer {path}: {error}") from None
        return cls(ensemble, meta)
