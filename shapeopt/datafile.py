"""Append-only HDF5 sample files that survive `kill -9`.

Rows are appended one sample at a time in SWMR mode: every data column is written and flushed first, the
`committed` column last, so a row counts only once it is complete. A file left by a killed writer stays
readable (SWMR); to append again it is rewritten from its committed rows (HDF5 keeps a writer's
consistency flag set after a crash, which forbids reopening for writing).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

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
            attrs["spec"] = json.loads(attrs["spec"])
            m, n_state = f["s"].shape[1], f["state"].shape[1]
        return cls(path, m, n_state, attrs, np.empty(0))

    @staticmethod
    def _create(path: Path, m: int, n_state: int, attrs: dict[str, Any], weights: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w", libver="latest") as f:
            for name, value in attrs.items():
                f.attrs[name] = value if not isinstance(value, dict) else json.dumps(value)
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
            stored, wanted = self.file.attrs[key], attrs[key]
            wanted = json.dumps(wanted) if isinstance(wanted, dict) else wanted
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
