"""Shared test helpers: paths to the shipped cases, the CLI as a subprocess, a synthetic dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"


def shapeopt_command(*args: str) -> list[str]:
    """Command line that runs the CLI with this interpreter."""
    return [sys.executable, "-m", "shapeopt", *args]


def write_synthetic_dataset(path: Path, level: str = "coarse", n: int = 24, n_state: int = 40) -> None:
    """A dataset in the shapeopt format for cylinder-re1-40.toml, written without FEM: smooth synthetic
    drag, gradients and states (the format, not the physics, is under test)."""
    from shapeopt.cases import load_case, parameter_spec, sample_identity
    from surrogates.datafile import SampleFile

    case = load_case(CASES / "cylinder-re1-40.toml").with_overrides(level=level)
    spec = parameter_spec(case)
    attrs = {
        "case": case.to_dict(),
        "spec": spec,
        "mesh_sha256": "synthetic",
        "re_range": list(case.re_range),
        "seed": 0,
        "level": level,
    }
    rng = np.random.default_rng(0)
    identity = sample_identity(case) | {"mesh_sha256": "synthetic", "seed": 0}
    writer = SampleFile(path, spec.size, n_state, attrs, np.full(n_state, 1.0 / n_state), identity)
    try:
        for i in range(n):
            s = rng.uniform(spec.lower, spec.upper)
            re = float(np.exp(rng.uniform(0.0, np.log(40.0))))
            writer.append(
                {
                    "index": i,
                    "status": 0,
                    "s": s,
                    "re": re,
                    "cd": (1 + s @ s) * (1 + 10 / re),
                    "cl": 0.1 * s[0],
                    "dcd": 2 * s * (1 + 10 / re),
                    "dcl": np.zeros(spec.size),
                    "state": 1
                    + s[0] * np.sin(np.linspace(0, 3, n_state))
                    + np.cos(np.linspace(0, 2, n_state)) / re,
                }
            )
    finally:
        writer.close()
