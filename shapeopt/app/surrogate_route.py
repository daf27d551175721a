"""The surrogate route as `optimize --method surrogate`, `run` and `atlas` take it: a trained surrogate read
from its file and checked against the problem, its search and FEM-verified trust region on one problem
(`surrogate_search.optimize_surrogate`) and, with a refit, every verified FEM solve (a sample with adjoint
gradients) appended to its dataset and the surrogate fine-tuned on it, written back to its file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import surrogates
from shapeopt.data.dataset import sample_row
from shapeopt.data.verified import REFIT_SECONDS, append_verified, check_verified_target, refit_surrogate
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.results import OptimizationResult, TrustStep
from shapeopt.design.surrogate_search import optimize_surrogate
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.designs import parameter_spec, sample_identity
from shapeopt.errors import CaseError
from shapeopt.fem.problem import DragProblem
from shapeopt.files import check_input_file
from surrogates.datafile import DatasetError, read_dataset


def load_surrogate(path: Path) -> surrogates.Surrogate:
    """The surrogate at `path`, or `CaseError` in one line naming it."""
    check_input_file(Path(path), "surrogate file")
    try:
        return surrogates.load(path)
    except (FileNotFoundError, IsADirectoryError):
        raise CaseError(f"surrogate file not found: {path}") from None
    except surrogates.IncompatibleSurrogateError as exc:
        raise CaseError(str(exc)) from None  # names the file


def trained_on(model: surrogates.Surrogate, stored_at: Path) -> Path | None:
    """The dataset file the surrogate stored at `stored_at` was trained on, as an absolute path (None if
    it records none). Training records the dataset's place relative to the surrogate file
    (`dataset_beside`), so a surrogate moved or copied together with its dataset finds the dataset beside
    it; failing that, the absolute path it records (`dataset`). A relative `dataset` (surrogates written
    before) is the path as given to the training, taken from the current folder."""
    beside = model.meta.get("dataset_beside")
    if beside and (Path(stored_at).parent / beside).is_file():
        return (Path(stored_at).parent / beside).absolute()
    recorded = model.meta.get("dataset")
    return Path(recorded).absolute() if recorded else None


def surrogate_dataset(model: surrogates.Surrogate, stored_at: Path) -> Path:
    """The dataset the surrogate stored at `stored_at` records (`trained_on`), checked as every input file
    is before it is opened (`check_input_file`): `CaseError` in one line when none is recorded, or when it
    is not there, cannot be looked at or is no regular file."""
    dataset = trained_on(model, stored_at)
    if dataset is None:
        raise CaseError("the surrogate records no dataset")
    check_input_file(dataset, "the surrogate's dataset")
    return dataset


@dataclass
class SurrogateRoute:
    """A surrogate in use: `model`, stored at `path` (where a refit writes it), read from the user's file
    `source` (named in messages; `path` itself unless the caller works on a copy), and with a refit the
    dataset that verified samples grow and the seconds of each fine-tune."""

    source: Path
    path: Path
    model: surrogates.Surrogate = field(repr=False)
    dataset: Path | None = None  # None: no refit
    refit_seconds: float = REFIT_SECONDS

    @classmethod
    def open(cls, path: Path, refit: bool = False, refit_seconds: float = REFIT_SECONDS) -> SurrogateRoute:
        """The surrogate at `path`, and with `refit` its dataset found; `CaseError` in one line if either
        is not here."""
        model = load_surrogate(path)
        dataset = None
        if refit:
            try:
                dataset = surrogate_dataset(model, path)
            except CaseError as exc:
                raise CaseError(f"--refit: {exc}") from None
        return cls(Path(path), Path(path), model, dataset, refit_seconds)

    def check(self, problem: DragProblem, re_values: Sequence[float]) -> None:
        """Refuse in one `CaseError` line a surrogate that does not fit the problem's case (its
        parametrisation and mesh) at every Re of `re_values`, or a dataset a refit could not extend."""
        try:
            self.model.check_compatible(
                parameter_spec(problem.case), problem.reference_sha256, (min(re_values), max(re_values))
            )
        except surrogates.IncompatibleSurrogateError as exc:
            raise CaseError(f"{self.source}: {exc}") from None
        if self.dataset is not None:
            check_verified_target(self.dataset, _identity(problem))

    def trained_designs(self) -> np.ndarray | None:
        """The designs (k, m) of the surrogate's dataset (FEM-verified optima of earlier refits included),
        if it is here and readable; for a surrogate of the path of optima (`train-path`), the shapes it
        was trained on."""
        if "trained_shapes" in self.model.meta:
            return np.array(self.model.meta["trained_shapes"], dtype=float)
        try:
            return read_dataset(surrogate_dataset(self.model, self.source)).s
        except (CaseError, DatasetError):
            return None

    def optimize(
        self,
        J: ReducedFunctional,
        settings: TrustRegionSettings | None = None,
        known: np.ndarray | None = None,
        report_initial: bool = True,
        progress: Callable[[TrustStep], None] | None = None,
        key: str | None = None,
    ) -> tuple[OptimizationResult, float]:
        """The surrogate's search among `known` designs (k, m) and Sobol ones (none for a surrogate of the
        path of optima), then the FEM-verified trust region (`optimize_surrogate`, with `settings`,
        `report_initial` and `progress`); with a refit, the verified samples grow the dataset (once per
        `key`, an atlas problem's name: `append_verified`) and the surrogate is fine-tuned (the result's
        `refit`: dataset, samples appended, test metrics, on rank 0 which ran it). Returns the result and
        the refit's seconds."""
        if "trained_shapes" in self.model.meta:  # it knows the path of optima only: searched from there
            settings = replace(settings or TrustRegionSettings(), global_samples=0)
        rows: list[dict] = []
        verified = (lambda e, w: rows.append(sample_row(e, w))) if self.dataset is not None else None
        result = optimize_surrogate(
            J, self.model, settings, progress, verified, known, report_initial=report_initial
        )
        if not rows:
            return result, 0.0
        start = time.perf_counter()
        comm = J.problem.flow_mesh.mesh.comm
        refit = {}
        if comm.rank == 0:
            appended = append_verified(self.dataset, rows, _identity(J.problem), key)
            metrics = refit_surrogate(self.model, self.path, self.dataset, budget_seconds=self.refit_seconds)
            refit = {"dataset": str(self.dataset), "appended": appended, "metrics": metrics}
        comm.barrier()
        self.model = load_surrogate(self.path)
        return replace(result, refit=refit), time.perf_counter() - start


def _identity(problem: DragProblem) -> dict:
    """What a dataset's samples must share with the problem's (`sample_identity`, the reference mesh's
    hash: verified samples are those solved on it, `trust_region._solved_state`)."""
    return sample_identity(problem.case) | {"mesh_sha256": problem.reference_sha256}
