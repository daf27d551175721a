"""Settings of dataset generation and of FEM physics for training (no FEniCS needed: the CLI builds its
options from these)."""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_SAMPLES = 1_000_000  # each sample is an FEM solve and stores its state: more is a typo, not a dataset


@dataclass(frozen=True)
class DatasetSettings:
    """How a dataset is computed: seed of the Sobol design, local worker processes (serial runs)."""

    seed: int = 0
    workers: int = 1

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when they can run), one phrase per setting, each
        starting with the setting's name."""
        found = [] if self.seed >= 0 else [f"seed must be ≥ 0, got {self.seed}"]
        return found + ([] if self.workers >= 1 else [f"workers must be ≥ 1, got {self.workers}"])


def sample_count_problems(samples: int) -> list[str]:
    """What is wrong with a dataset size (`samples must ...`), refused before the designs are drawn."""
    if samples < 1:
        return [f"samples must be ≥ 1, got {samples}"]
    if samples > MAX_SAMPLES:
        return [f"samples must be ≤ {MAX_SAMPLES} (each one is an FEM solve with its state), got {samples}"]
    return []


@dataclass(frozen=True)
class PhysicsSettings:
    """FEM physics of dp/pg/hig training: worker processes, and bench-train's wall-time budget per method."""

    workers: int = 2
    budget_seconds: float = 600.0

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when they can run), one phrase per setting."""
        found = [] if self.workers >= 1 else [f"workers must be ≥ 1, got {self.workers}"]
        if not (math.isfinite(self.budget_seconds) and self.budget_seconds > 0):
            found.append(f"budget_seconds must be a finite number > 0, got {self.budget_seconds}")
        return found
