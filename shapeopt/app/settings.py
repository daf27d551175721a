"""Settings of `shapeopt run` (no FEniCS needed: the CLI builds its options from these)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shapeopt.data.settings import DatasetSettings, sample_count_problems
from surrogates.settings import TrainSettings, settings_for

MAX_SEARCH_SAMPLES = 2**24  # designs of the global surrogate search (2**17 take seconds)


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

    def train_settings(self) -> TrainSettings:
        """The settings the surrogate is trained with: the method's tuned ones, with these epochs, seed and
        budget."""
        return settings_for(
            self.train_method, epochs=self.epochs, seed=self.seed, budget_seconds=self.budget_seconds
        )

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when the pipeline can run), one phrase per setting,
        each starting with the setting's name; checked before the dataset is made."""
        found = sample_count_problems(self.samples) + DatasetSettings(self.seed, self.workers).problems()
        found += [p for p in self.train_settings().problems() if p not in found]
        if not 1 <= self.search_samples <= MAX_SEARCH_SAMPLES:
            found.append(f"search_samples must lie in [1, {MAX_SEARCH_SAMPLES}], got {self.search_samples}")
        return found
