"""Reading shapeopt's HDF5 datasets into numpy arrays (successful samples only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np


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
    spec: dict  # parametrisation: kind, modes, names, bounds, r0, center
    mesh_sha256: str
    re_range: tuple[float, float]
    case: dict
    failed: int

    def __len__(self) -> int:
        return len(self.re)


def read_dataset(path: str | Path) -> Dataset:
    """All successful samples of an HDF5 dataset written by `shapeopt dataset`."""
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
            spec=json.loads(f.attrs["spec"]),
            mesh_sha256=str(f.attrs["mesh_sha256"]),
            re_range=tuple(float(v) for v in f.attrs["re_range"]),
            case=json.loads(f.attrs["case"]),
            failed=int(np.sum(~ok)),
        )
