"""Settings of `shapeopt run` (no FEniCS needed: the CLI builds its options from these)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunSettings:
    """Sizes of the quick pipeline: dataset samples, workers, training method, epochs and budget."""

    samples: int = 96
    workers: int = 2
    seed: int = 0
    train_method: str = "sobolev"  # the best surrogate for its cost (docs/training-methods.md)
    epochs: int = 2000
    budget_seconds: float = 300.0
    search_samples: int = 2**17
    data_dir: Path = Path("data")  # dataset and trained surrogate
