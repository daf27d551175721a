"""Training a surrogate for a case: its dataset checked against the case, the FEM physics when the
method needs it, the artifact saved. Supervised and Sobolev training import no FEniCS."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shapeopt.cases import Case, case_from_dict
from shapeopt.data.settings import PhysicsSettings
from shapeopt.designs import parameter_spec, sample_identity
from shapeopt.errors import CaseError, InterruptedWorkError
from surrogates.artifact import Surrogate
from surrogates.datafile import Dataset, DatasetError, identity_mismatch, read_dataset
from surrogates.settings import PHYSICS_METHODS, TrainSettings
from surrogates.train import TrainResult, train


def read_dataset_for(case: Case, path: Path) -> Dataset:
    """The dataset at `path`, refused (`CaseError`) unless made for the case's parametrisation and level,
    and its samples under the case's settings (`sample_identity`: mesh box, solver, quality guard; the
    differences named)."""
    try:
        data = read_dataset(path, parameter_spec(case), case.level)
    except DatasetError as exc:
        raise CaseError(str(exc)) from None
    differences = []
    wanted = parameter_spec(case)
    if data.spec != wanted:
        differences.append(
            f"parameter bounds or constraints {data.spec.to_dict()} ≠ the case's {wanted.to_dict()}"
        )
    if not np.allclose(data.re_range, case.re_bounds, rtol=1e-12):
        differences.append(f"Re range {list(data.re_range)} ≠ the case's {list(case.re_bounds)}")
    if differences:
        raise CaseError(
            f"{path} was made for another design space than case '{case.name}': " + "; ".join(differences)
        )
    stored = stored_identity(data)
    try:
        if stored is not None:
            identity_mismatch(path, stored, sample_identity(case), TRAIN_MAY_DIFFER)
    except DatasetError as exc:
        raise CaseError(str(exc)) from None
    return data


# Identity keys a dataset may differ in from the case it trains for: how its designs were drawn (seed,
# design version) and the mesh hash (not known without meshing; the mesh settings that fix it are compared).
TRAIN_MAY_DIFFER = ("mesh_sha256", "seed", "design")


def stored_identity(data: Dataset) -> dict | None:
    """The settings the dataset's samples were made with: its record, or for an older file without one,
    those of the resolved case it stores (None when that cannot be read back as a case: not checked)."""
    if data.identity is not None:
        return data.identity
    try:
        return sample_identity(case_from_dict(data.case, "the dataset's case"))
    except (CaseError, KeyError, TypeError, ValueError):
        return None


def train_for_case(
    case: Case,
    data_path: Path,
    settings: TrainSettings,
    out: Path,
    workers: int = PhysicsSettings.workers,
    progress: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train on the case's dataset by `settings.method` and save the surrogate to `out`.

    dp/pg/hig run the FEM physics in `workers` processes (each builds the case's problem).
    """
    data = read_dataset_for(case, data_path)
    meta = dataset_record(data_path, out) | {"case": case.name, "dataset_rows": len(data)}
    try:
        if settings.method in PHYSICS_METHODS:
            from shapeopt.data.physics_pool import open_physics

            with open_physics(case, workers, data.mesh_sha256) as physics:
                result = train(data, settings, meta, progress, physics=physics)
        else:
            result = train(data, settings, meta, progress)
    except ValueError as exc:
        raise CaseError(str(exc)) from None
    save_surrogate(result.surrogate, out)
    if result.metrics["interrupted"]:
        raise InterruptedWorkError(
            f"interrupted after {result.metrics['epochs']} epochs; the best network so far is saved in {out}"
        )
    return result


def dataset_record(data_path: Path, out: Path) -> dict[str, str]:
    """What a surrogate written to `out` records of the dataset at `data_path`: its absolute path and its
    place relative to the surrogate's folder (`dataset_beside`), which still holds when the two are moved
    or copied together."""
    dataset = Path(data_path).absolute()
    return {"dataset": str(dataset), "dataset_beside": os.path.relpath(dataset, Path(out).absolute().parent)}


def save_surrogate(surrogate: Surrogate, out: Path) -> None:
    """Write `surrogate` to `out` whole (a temporary file renamed; an earlier file at `out` stays until
    then); a write that fails (a full disk, `out` no longer a regular file) is `CaseError` in one line and
    leaves no temporary file."""
    try:
        surrogate.save(out)
    except OSError as exc:
        raise CaseError(
            f"cannot write {out}: {exc.strerror or exc}; the trained network is not saved (an earlier file "
            "there is kept as it was)"
        ) from None
