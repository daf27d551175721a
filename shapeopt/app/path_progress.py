"""The FEM labels of `train-path` kept as they are made, so that a stopped run resumes without redoing them.

One `.NAME.recover` file beside the surrogate file NAME (`files.managed_name`): a NumPy archive with the
labels of the atlas's optima, each finished steering round's conditions, labels and FEM cost, and an
identity (the atlas's conditions and optima, the method, order, conditions per round and seed). A rerun
with the same identity reads it back (`read_progress`); the run removes it once the surrogate is written.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shapeopt.files import written_whole
from surrogates.path_training import PathSamples


@dataclass
class RoundLabels:
    """One steering round: its conditions (n, 3), the labels at the surrogate's minima there, and the
    FEM solves and Hessians they cost."""

    conditions: np.ndarray
    labels: PathSamples
    solves: int
    hessians: int


@dataclass
class PathProgress:
    """The labels of a `train-path` run so far: the path's, then one `RoundLabels` per finished round."""

    path: PathSamples
    rounds: list[RoundLabels] = field(default_factory=list)


def progress_file(out: Path) -> Path:
    """Where the labels of the run writing `out` are kept: `.NAME.recover` beside it."""
    return Path(out).with_name(f".{Path(out).name}.recover")


def identity(conditions: np.ndarray, optima: np.ndarray, settings: dict[str, Any]) -> str:
    """A digest of the atlas's conditions (n, 3) and optima (n, m) and the run's `settings`."""
    digest = hashlib.sha256(np.ascontiguousarray(conditions, dtype=float).tobytes())
    digest.update(np.ascontiguousarray(optima, dtype=float).tobytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def write_progress(path: Path, key: str, progress: PathProgress) -> None:
    """Replace `path` by the labels so far, whole or not at all."""
    arrays: dict[str, np.ndarray] = {"identity": np.array(key)}
    arrays |= _arrays("path", progress.path)
    for k, done in enumerate(progress.rounds):
        arrays |= _arrays(f"round{k}", done.labels)
        arrays[f"round{k}_conditions"] = done.conditions
        arrays[f"round{k}_cost"] = np.array([done.solves, done.hessians])
    with written_whole(path) as partial, open(partial, "wb") as f:
        np.savez(f, **arrays)


def read_progress(path: Path, key: str) -> PathProgress | None:
    """The labels kept in `path` for the run `key`; None when there are none, or they belong to another
    run or cannot be read (the run then starts afresh and replaces them)."""
    try:
        with np.load(path) as f:
            if str(f["identity"]) != key:
                return None
            progress = PathProgress(_samples(f, "path"))
            k = 0
            while f"round{k}_cost" in f:
                solves, hessians = (int(v) for v in f[f"round{k}_cost"])
                conditions = f[f"round{k}_conditions"]
                progress.rounds.append(RoundLabels(conditions, _samples(f, f"round{k}"), solves, hessians))
                k += 1
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    return progress


def _arrays(prefix: str, samples: PathSamples) -> dict[str, np.ndarray]:
    names = ("s", "re", "cd", "gradient", "hessian")
    return {f"{prefix}_{name}": array for name, array in zip(names, samples.arrays(), strict=True)}


def _samples(f: Any, prefix: str) -> PathSamples:
    return PathSamples(*(f[f"{prefix}_{name}"] for name in ("s", "re", "cd", "gradient", "hessian")))
