"""The dataset format: append-only HDF5 sample files, written and read here (no FEniCS needed).

Attributes: `case` (the resolved case, JSON), `spec` (the `ParameterSpec`, JSON), `mesh_sha256`,
`re_range`, `seed`, `level`; the dataset `state_weights` (N,); per sample the columns of `FLOAT_COLUMNS`,
`INT_COLUMNS`, `s`, `dcd`, `dcl` (m,), `state` (N,), `reason`, and `committed`.

Rows are appended one sample at a time in SWMR mode: every data column is written and flushed first, the
`committed` column last, so a row counts only once it is complete. A file left by a killed writer stays
readable (SWMR); to append again it is rewritten from its committed rows (HDF5 keeps a writer's
consistency flag set after a crash, which forbids reopening for writing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from surrogates.spec import ParameterSpec

FLOAT_COLUMNS = ("re", "cd", "cl", "seconds", "quality")
INT_COLUMNS = ("index", "status", "newton_iterations")
REASON_BYTES = 400


class SampleFile:
    """Writer for a dataset of `m` shape parameters and states of `n_state` values."""

    def __init__(self, path: Path, m: int, n_state: int, attrs: dict[str, Any], weights: np.ndarray):
        self.path = Path(path)
        if self.path.exists():
            self._reopen(attrs)
        else:
            self._create(self.path, m, n_state, attrs, weights)
            self.file = self._open_for_append(self.path)

    @classmethod
    def open_existing(cls, path: Path) -> SampleFile:
        """Append to an existing file with its own attributes (e.g. FEM-verified optimizer samples)."""
        with h5py.File(path, "r", swmr=True) as f:
            attrs = {key: f.attrs[key] for key in ("mesh_sha256", "spec", "re_range", "seed")}
            attrs["spec"] = ParameterSpec.from_dict(json.loads(attrs["spec"]))
            m, n_state = f["s"].shape[1], f["state"].shape[1]
        return cls(path, m, n_state, attrs, np.empty(0))

    @staticmethod
    def _create(path: Path, m: int, n_state: int, attrs: dict[str, Any], weights: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w", libver="latest") as f:
            for name, value in attrs.items():
                f.attrs[name] = _attribute(value)
            f.create_dataset("state_weights", data=weights)
            for name in FLOAT_COLUMNS:
                f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(256,))
            for name in INT_COLUMNS:
                f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="i8", chunks=(256,))
            for name in ("s", "dcd", "dcl"):
                f.create_dataset(name, shape=(0, m), maxshape=(None, m), dtype="f8", chunks=(64, m))
            f.create_dataset(
                "state", shape=(0, n_state), maxshape=(None, n_state), dtype="f8", chunks=(1, n_state)
            )
            # Fixed-length: variable-length strings are not safe to read while a SWMR writer appends.
            f.create_dataset("reason", shape=(0,), maxshape=(None,), dtype=f"S{REASON_BYTES}", chunks=(256,))
            f.create_dataset("committed", shape=(0,), maxshape=(None,), dtype="i1", chunks=(256,))

    @staticmethod
    def _open_for_append(path: Path) -> h5py.File:
        f = h5py.File(path, "a", libver="latest")
        f.swmr_mode = True
        return f

    def _reopen(self, attrs: dict[str, Any]) -> None:
        try:
            self.file = self._open_for_append(self.path)
        except OSError:
            self._rewrite_committed()
            self.file = self._open_for_append(self.path)
        for key in ("mesh_sha256", "spec", "re_range", "seed"):
            stored, wanted = self.file.attrs[key], _attribute(attrs[key])
            if not np.array_equal(np.asarray(stored), np.asarray(wanted)):
                self.file.close()
                raise ValueError(f"{self.path} was made with another {key}; choose another --out")

    def _rewrite_committed(self) -> None:
        """Copy the committed rows of a file whose writer was killed into a fresh file, then replace it."""
        tmp = self.path.with_suffix(".recover.h5")
        with h5py.File(self.path, "r", swmr=True) as old, h5py.File(tmp, "w", libver="latest") as new:
            n = old["committed"].shape[0]
            for name, value in old.attrs.items():
                new.attrs[name] = value
            for name, column in old.items():
                rows = column[:] if name == "state_weights" else column[:n]
                new.create_dataset(
                    name, data=rows, maxshape=column.maxshape, chunks=column.chunks, dtype=column.dtype
                )
        os.replace(tmp, self.path)

    def done(self) -> set[int]:
        """Sample indices already stored (successful or failed)."""
        n = self.file["committed"].shape[0]
        return set(self.file["index"][:n].tolist())

    def append(self, row: dict[str, Any]) -> None:
        """Write one sample (keys: the columns; `state`, `s`, `dcd`, `dcl` may be None for a failure)."""
        f = self.file
        n = f["committed"].shape[0]
        m, n_state = f["s"].shape[1], f["state"].shape[1]
        values = {
            **{name: row.get(name, np.nan) for name in FLOAT_COLUMNS},
            **{name: row.get(name, -1) for name in INT_COLUMNS},
            "s": row.get("s") if row.get("s") is not None else np.full(m, np.nan),
            "dcd": row.get("dcd") if row.get("dcd") is not None else np.full(m, np.nan),
            "dcl": row.get("dcl") if row.get("dcl") is not None else np.full(m, np.nan),
            "state": row.get("state") if row.get("state") is not None else np.full(n_state, np.nan),
            "reason": row.get("reason", "").encode()[:REASON_BYTES],
        }
        for name, value in values.items():
            column = f[name]
            column.resize(n + 1, axis=0)
            column[n] = value
            column.flush()
        f["committed"].resize(n + 1, axis=0)
        f["committed"][n] = 1
        f["committed"].flush()

    def close(self) -> None:
        self.file.close()


def _attribute(value: Any) -> Any:
    """An HDF5 attribute value: specs and dicts as JSON text, the rest as they are."""
    if isinstance(value, ParameterSpec):
        value = value.to_dict()
    return json.dumps(value) if isinstance(value, dict) else value


@dataclass
class Dataset:
    """Samples of one case and mesh. Shapes: s (n, m), re/cd/cl (n,), dcd/dcl (n, m), state (n, N)."""

    s: np.ndarray
    re: np.ndarray
    cd: np.ndarray
    cl: np.ndarray
    dcd: np.ndarray
    dcl: np.ndarray
    state: np.ndarray
    weights: np.ndarray  # (N,) inner-product weights of the state (lumped mass)
    spec: ParameterSpec
    mesh_sha256: str
    re_range: tuple[float, float]
    case: dict
    failed: int

    def __len__(self) -> int:
        return len(self.re)


class DatasetError(ValueError):
    """A dataset cannot be read, or was made for another parametrisation or mesh level."""


def read_dataset(
    path: str | Path, expected: ParameterSpec | None = None, level: str | None = None
) -> Dataset:
    """All successful samples of a dataset, sorted by sample index.

    With `expected` (and `level`), a dataset made for an incompatible parametrisation (or another mesh
    level) is refused with `DatasetError`.
    """
    try:
        data = _read(path)
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc}") from None
    problems = [] if expected is None else data.spec.differences(expected)
    if level is not None and data.case.get("level") != level:
        problems.append(f"mesh level {data.case.get('level')!r} ≠ {level!r}")
    if problems:
        raise DatasetError(f"{path} was made for another case: " + "; ".join(problems))
    return data


def _read(path: str | Path) -> Dataset:
    with h5py.File(path, "r", swmr=True) as f:
        n = f["committed"].shape[0]  # rows written completely; a killed writer may leave a partial one
        ok = f["status"][:n] == 0
        order = np.argsort(f["index"][:n][ok], kind="stable")

        def rows(name: str) -> np.ndarray:
            return f[name][:n][ok][order]

        return Dataset(
            s=rows("s"),
            re=rows("re"),
            cd=rows("cd"),
            cl=rows("cl"),
            dcd=rows("dcd"),
            dcl=rows("dcl"),
            state=rows("state"),
            weights=f["state_weights"][:],
            spec=ParameterSpec.from_dict(json.loads(f.attrs["spec"])),
            mesh_sha256=str(f.attrs["mesh_sha256"]),
            re_range=tuple(float(v) for v in f.attrs["re_range"]),
            case=json.loads(f.attrs["case"]),
            failed=int(np.sum(~ok)),
        )
