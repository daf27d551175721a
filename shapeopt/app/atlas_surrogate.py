"""The atlas's surrogate route: each problem's start chosen by a trained surrogate, then FEM Newton steps.

Per problem, the surrogate (mirror-averaged, at the problem's Re) is searched over Sobol designs and the
optima found so far (`SurrogateRoute.optimize` with `ATLAS_SEARCH`, `known`); the trust region then takes
Newton steps on the exact FEM Hessian from the surrogate's optimum to the FEM KKT point, as the Newton
route does from the nearest optimum. With `refit`, every verified FEM solve (a sample with adjoint
gradients) is appended to a copy of the surrogate's dataset in the atlas folder and the working copy of
the surrogate (`SURROGATE`) is fine-tuned on it for `refit_seconds` after each problem
(`working_copies`); the user's files are never written. What the surrogate cost before the atlas (its
dataset's FEM solves and their seconds, its training seconds) is read from its files (`setup_cost`), so
that a comparison with the Newton route (`atlas_compare`) counts everything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import surrogates
from shapeopt.app.surrogate_route import SurrogateRoute, load_surrogate, surrogate_dataset, trained_on
from shapeopt.data.verified import VERIFIED_INDEX
from shapeopt.design.newton import NEWTON_SETTINGS
from shapeopt.errors import CaseError
from surrogates.datafile import DatasetError, verify

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


def setup_cost(model: surrogates.Surrogate, stored_at: Path) -> dict[str, Any]:
    """What the surrogate cost before any atlas: the FEM solves its dataset made (failed ones included,
    verified optimizer samples excluded), their summed seconds (one process each; `workers` ran them side
    by side), the training's seconds and the FEM solves it made (`pg-fresh`'s solves of fresh designs;
    the residuals and Jacobian products of `dp`, `pg` and `hig` are in its seconds); the dataset's counts
    are None if it (`meta["dataset"]`) is not here (`surrogate_dataset`); `CaseError` if it is damaged
    (`verify`)."""
    metrics = model.meta.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    training = {
        "training_seconds": float(metrics.get("train_seconds", 0.0)),
        "training_solves": int((metrics.get("physics_calls") or {}).get("solution_from", 0)),
    }
    try:
        dataset = surrogate_dataset(model, stored_at)
    except CaseError:
        return {
            "dataset": str(trained_on(model, stored_at) or ""),
            "dataset_solves": None,
            "dataset_seconds": None,
        } | training
    try:
        verify(dataset)  # every row's checksum and the header's, as every read of a dataset
    except DatasetError as exc:
        raise CaseError(f"--compare-newton: {exc}") from None
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

    def open(self) -> SurrogateRoute:
        """The route of the user's surrogate (`SurrogateRoute.open`), `CaseError` if it cannot be read."""
        return SurrogateRoute.open(self.source, self.refit, self.refit_seconds)

    def record(self) -> dict[str, Any]:
        """What the atlas record holds of the route: the surrogate file's SHA-256 and the refit settings."""
        return {
            "route": "surrogate",
            "surrogate_sha256": file_sha256(self.source),
            "refit_seconds": self.refit_seconds if self.refit else 0.0,
        }


def working_copies(route: SurrogateRoute, out: Path, comm) -> SurrogateRoute:
    """The route on copies in the atlas folder `out`: those an earlier run left there (they hold its
    refits), else fresh copies of the user's surrogate and (with a refit) dataset."""
    path = Path(out) / SURROGATE
    dataset = Path(out) / DATASET if route.dataset is not None else None
    if comm.rank == 0:
        if not path.is_file():
            _copy(route.path, path)
        if dataset is not None and not dataset.is_file():
            _copy(route.dataset, dataset)
    comm.barrier()
    return dataclasses.replace(route, path=path, dataset=dataset, model=load_surrogate(path))


def _copy(source: Path, target: Path) -> None:
    """Copy a file whole: to a temporary sibling, then renamed into place."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
