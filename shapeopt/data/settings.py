"""Settings of dataset generation and of FEM physics for training (no FEniCS needed: the CLI builds its
options from these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSettings:
    """How a dataset is computed: seed of the Sobol design, local worker processes (serial runs)."""

    seed: int = 0
    workers: int = 1


@dataclass(frozen=True)
class PhysicsSettings:
    """FEM physics of dp/pg/hig training: worker processes, and bench-train's wall-time budget per method."""

    workers: int = 2
    budget_seconds: float = 600.0
