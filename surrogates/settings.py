"""Training methods and their settings (no torch needed: the CLI builds its options from these)."""

from __future__ import annotations

import math
from dataclasses import dataclass

METHODS = ("supervised", "sobolev", "dp", "pg", "hig")
PHYSICS_METHODS = ("dp", "pg", "hig")


@dataclass
class TrainSettings:
    """Optimiser and loss settings; `budget_seconds` bounds the wall time of the epoch loop."""

    method: str = "supervised"
    epochs: int = 3000
    batch: int = 64
    lr: float = 2e-3
    lr_decay: float = 0.01  # the learning rate (or hig step) falls to lr · lr_decay by the end
    beta: float = 10.0
    gamma: float = 100.0  # sobolev: weight of the gradient term (README: γ = 1 … 300 compared)
    width: int = 128
    depth: int = 3
    seed: int = 0
    budget_seconds: float = 600.0
    device: str = "auto"  # auto: cuda when present, else cpu
    pod_energy: float = 0.99999
    pod_modes: int = 32
    tau: float = 1e-5  # hig: relative truncation of singular values
    newton_steps: int = 1  # pg: Newton steps per target
    step_size: float = 1.0  # pg: fraction of the (damped) Newton step taken in state space

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when they can train), one phrase per setting."""
        found = []
        if self.method not in METHODS:
            found.append(f"unknown training method '{self.method}' (expected one of {', '.join(METHODS)})")
        for name in ("epochs", "batch", "width", "depth", "pod_modes", "newton_steps"):
            if getattr(self, name) < 1:
                found.append(f"{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("lr", "budget_seconds", "step_size"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                found.append(f"{name} must be a finite number > 0, got {value}")
        for name in ("beta", "gamma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                found.append(f"{name} must be a finite number ≥ 0, got {value}")
        for name in ("lr_decay", "tau", "pod_energy"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                found.append(f"{name} must lie in (0, 1], got {value}")
        return found
