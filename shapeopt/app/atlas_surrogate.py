"""The atlas's surrogate route: each problem's start chosen by a trained surrogate, then FEM Newton steps.

Per problem, the surrogate (mirror-averaged, at the problem's Re) is searched over Sobol designs and the
optima found so far (`trust_region.optimize_surrogate`, `known`); the trust region then takes Newton steps
on the exact FEM Hessian from the surrogate's optimum to the FEM KKT point, as the Newton route does from
the nearest optimum. With `refit`, every verified FEM solve (a sample with adjoint gradients) is appended
to a copy of the surrogate's dataset in the atlas folder and the working copy of the surrogate
(`SURROGATE`) is fine-tuned on it for `refit_seconds` after each problem; the user's files are never
written. What the surrogate cost before the atlas (its dataset's FEM solves and their seconds, its
training seconds) is read from its files (`setup_cost`), so that a comparison with the Newton route
(`atlas_compare`) counts everything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import surrogates
from shapeopt.cases import parameter_spec, sample_identity
from shapeopt.data.dataset import sample_row
from shapeopt.data.verified import VERIFIED_INDEX, append_verified, check_verified_target, refit_surrogate
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.newton import NEWTON_SETTINGS
from shapeopt.design.results import OptimizationResult
from shapeopt.design.surrogate_search import optimize_surrogate
from shapeopt.errors import CaseError
from shapeopt.fem.problem import DragProblem

SURROGATE = "surrogate.pt"  # the working copy in the atlas folder (refit there)
DATASET = "dataset.h5"  # with `refit`: the copy of the surrogate's dataset that verified samples grow
# Each problem: the optima found so far are searched beside 2**14 Sobol designs (the wide space's optima
# lie far from the drawn designs; the known ones are where the answer is near), then the trust region of
# the Newton route (its radius and KKT tolerance) from the surrogate's optimum.
ATLAS_SEARCH = dataclasses.replace(NEWTON_SETTINGS, global_samples=2**14, starts=4)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_surrogate(path: Path) -> surrogates.Surrogate:
    """The surrogate at `path`, or `CaseError` in one line naming it."""
    try:
        return surrogates.load(path)
    except (FileNotFoundError, IsADirectoryError):
        raise CaseError(f"surrogate file not found: {path}") from None
    except surrogates.IncompatibleSurrogateError as exc:
        raise CaseError(str(exc)) from None


def setup_cost(model: surrogates.Surrogate) -> dict[str, Any]:
    """What the surrogate cost before any atlas: the FEM solves its dataset made (failed ones included,
    verified optimizer samples excluded), their summed seconds (one process each; `workers` ran them side
    by side), the training's seconds and the FEM solves it made (`pg-fresh`'s solves of fresh designs;
    the residuals and Jacobian products of `dp`, `pg` and `hig` are in its seconds); the dataset's counts
    are None if it (`meta["dataset"]`) is not here."""
    dataset = Path(model.meta.get("dataset") or "")
    metrics = model.meta.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    training = {
        "training_seconds": float(metrics.get("train_seconds", 0.0)),
        "training_solves": int((metrics.get("physics_calls") or {}).get("solution_from", 0)),
    }
    if not dataset.is_file():
        return {"dataset": str(dataset), "dataset_solves": None, "dataset_seconds": None} | training
    with h5py.File(dataset, "r") as f:
        n = f["committed"].shape[0]
        own = f["index"][:n] < VERIFIED_INDEX
        seconds = float(np.sum(f["seconds"][:n][own]))
    return {
        "dataset": str(dataset),
        "dataset_solves": int(np.sum(own)),
        "dataset_seconds": seconds,
    } | training


@dataclass(frozen=True)
class SurrogateChoice:
    """The surrogate route as asked for: the user's surrogate file (read, never written) and whether and
    for how long (seconds of fine-tuning after each problem) it is refit on the atlas's verified samples."""

    source: Path
    refit: bool = False
    refit_seconds: float = 10.0

    def record(self) -> dict[str, Any]:
        """What the atlas record holds of the route: the surrogate file's SHA-256 and the refit settings."""
        return {
            "route": "surrogate",
            "surrogate_sha256": file_sha256(self.source),
            "refit_seconds": self.refit_seconds if self.refit else 0.0,
        }


@dataclass
class SurrogateRoute:
    """The surrogate of an atlas in use: `model`, read from `path` (the user's file until `settle`, then
    the working copy in the atlas folder), and with `refit` the atlas's copy of its dataset."""

    choice: SurrogateChoice
    path: Path
    model: surrogates.Surrogate = field(repr=False)
    dataset: Path | None = None

    @classmethod
    def open(cls, choice: SurrogateChoice) -> SurrogateRoute:
        """The user's surrogate, read (`CaseError` if it cannot be), and with `refit` its dataset found."""
        model = load_surrogate(choice.source)
        dataset = None
        if choice.refit:
            dataset = Path(model.meta.get("dataset") or "")
            if not dataset.is_file():
                raise CaseError(
                    f"--refit: the surrogate's dataset {str(dataset) or '(none recorded)'} is not here"
                )
        return cls(choice, Path(choice.source), model, dataset)

    def settle(self, out: Path, comm) -> None:
        """Work on copies in the atlas folder `out`: those an earlier run left there (they hold its refits),
        else fresh copies of the user's surrogate and (with `refit`) dataset."""
        path = Path(out) / SURROGATE
        dataset = Path(out) / DATASET if self.choice.refit else None
        if comm.rank == 0:
            if not path.is_file():
                _copy(self.path, path)
            if dataset is not None and not dataset.is_file():
                _copy(self.dataset, dataset)
        comm.barrier()
        self.path, self.dataset, self.model = path, dataset, load_surrogate(path)

    def check(self, problem: DragProblem, re_values: list[float]) -> None:
        """Refuse in one `CaseError` line a surrogate that does not fit the problem's case (its
        parametrisation and mesh) at every Re of the grid, or a dataset a refit could not extend."""
        try:
            self.model.check_compatible(
                parameter_spec(problem.case), problem.flow_mesh.sha256, (min(re_values), max(re_values))
            )
        except surrogates.IncompatibleSurrogateError as exc:
            raise CaseError(f"{self.choice.source}: {exc}") from None
        if self.choice.refit:
            check_verified_target(self.dataset, self.identity(problem))

    @staticmethod
    def identity(problem: DragProblem) -> dict[str, Any]:
        return sample_identity(problem.case) | {"mesh_sha256": problem.flow_mesh.sha256}

    def optimize(self, J: ReducedFunctional, known: np.ndarray | None) -> tuple[OptimizationResult, float]:
        """The surrogate route on one problem: search among `known` designs (k, m) and Sobol ones, Newton
        steps from the surrogate's optimum; then, with `refit`, the verified samples grow the dataset copy
        and the surrogate is fine-tuned. Returns the result and the refit's seconds."""
        rows: list[dict] = []
        verified = (lambda e, w: rows.append(sample_row(e, w))) if self.choice.refit else None
        result = optimize_surrogate(
            J, self.model, ATLAS_SEARCH, verified=verified, known=known, report_initial=False
        )
        if not self.choice.refit or not rows:
            return result, 0.0
        start = time.perf_counter()
        if J.problem.flow_mesh.mesh.comm.rank == 0:
            append_verified(self.dataset, rows, self.identity(J.problem))
            refit_surrogate(self.model, self.path, self.dataset, budget_seconds=self.choice.refit_seconds)
        J.problem.flow_mesh.mesh.comm.barrier()
        self.model = load_surrogate(self.path)
        return result, time.perf_counter() - start


def _copy(source: Path, target: Path) -> None:
    """Copy a file whole: to a temporary sibling, then renamed into place."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
