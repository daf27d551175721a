"""Training methods and their settings (no torch needed: the CLI builds its options from these)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingMethod:
    """What one training method is, without torch (the CLI builds its options from these): its name, a
    one-line description of its step, whether it calls the FEM physics, its update (`adam` on a loss, or
    `half-inverse` steps over the joint Jacobian of its residuals), the settings it was tuned with
    (docs/training-methods.md, used unless given otherwise) and its validation loss. Each method is
    validated without the solver, by the labelled loss of what it learns: `sobolev` where it learns adjoint
    gradients, else `supervised`. Its torch side, the step itself, is `surrogates.methods`."""

    name: str
    description: str
    needs_physics: bool
    update: str
    tuned: dict
    validation: str

    @property
    def timed(self) -> bool:
        """Whether its steps are timed by phase: the steps of the solver-free Adam methods are too short to
        synchronise the device after each phase."""
        return self.needs_physics or self.update != "adam"


REGISTRY: dict[str, TrainingMethod] = {
    method.name: method
    for method in (
        TrainingMethod(
            "supervised",
            "Adam on the C_D, C_L and POD-state misfits",
            needs_physics=False,
            update="adam",
            tuned={"lr": 2e-3, "batch": 64},
            validation="supervised",
        ),
        TrainingMethod(
            "sobolev",
            "Adam on the supervised misfits plus γ |∂C_D/∂s − adjoint|²",
            needs_physics=False,
            update="adam",
            tuned={"lr": 2e-3, "batch": 64},
            validation="sobolev",
        ),
        TrainingMethod(
            "dp",
            "Adam on the FEM residual of the predicted state (gradients through Jᵀ) and C_D",
            needs_physics=True,
            update="adam",
            tuned={"lr": 1e-2, "batch": 16},
            validation="supervised",
        ),
        TrainingMethod(
            "pg",
            "Adam towards Newton-corrected states (the solver's local inverse)",
            needs_physics=True,
            update="adam",
            tuned={"lr": 1e-2, "batch": 16},
            validation="supervised",
        ),
        TrainingMethod(
            "pg-fresh",
            "Adam (sobolev loss) on the data and on fresh designs solved by Newton from the network's state",
            needs_physics=True,
            update="adam",
            tuned={"lr": 2e-3, "batch": 64},
            validation="sobolev",
        ),
        TrainingMethod(
            "hig",
            "half-inverse step over the FEM residual, C_D/C_L and adjoint-gradient rows",
            needs_physics=True,
            update="half-inverse",
            tuned={"lr": 0.3, "batch": 16, "tau": 1e-5},
            validation="sobolev",
        ),
        TrainingMethod(
            "hig-sobolev",
            "half-inverse step over the state, C_D/C_L and adjoint-gradient misfits",
            needs_physics=False,
            update="half-inverse",
            tuned={"lr": 0.3, "batch": 16, "tau": 1e-5},
            validation="sobolev",
        ),
    )
}
METHODS = tuple(REGISTRY)
PHYSICS_METHODS = tuple(name for name, method in REGISTRY.items() if method.needs_physics)
HALF_INVERSE_METHODS = tuple(name for name, method in REGISTRY.items() if method.update == "half-inverse")
SCHEDULES = ("budget", "plateau")
TUNED = tuple(sorted({key for method in REGISTRY.values() for key in method.tuned}))  # per-method settings


@dataclass
class TrainSettings:
    """Optimiser and loss settings; `budget_seconds` bounds the wall time of the epoch loop.

    schedule `budget`: the rate decays exponentially to lr · lr_decay over the epochs or the budget;
    `plateau`: train until converged (`surrogates.schedule.PlateauSchedule`), epochs and budget as caps.
    """

    method: str = "sobolev"  # the best surrogate for its cost on a CPU (docs/training-methods.md)
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
    damping: float = 0.0  # hig: λ of the damped factor (σ / (σ² + λ σ_max²))^{1/2}; 0 is plain σ^{-1/2}
    schedule: str = "budget"
    newton_steps: int = 1  # pg: Newton steps per target
    step_size: float = 1.0  # pg: fraction of the (damped) Newton step taken in state space
    fresh_batch: int = 8  # pg-fresh: designs per batch of solves

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when they can train), one phrase per setting."""
        found = []
        if self.method not in METHODS:
            found.append(f"unknown training method '{self.method}' (expected one of {', '.join(METHODS)})")
        for name in ("epochs", "batch", "width", "depth", "pod_modes", "newton_steps", "fresh_batch"):
            if getattr(self, name) < 1:
                found.append(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.seed < 0:
            found.append(f"seed must be ≥ 0, got {self.seed}")
        for name in ("lr", "budget_seconds", "step_size"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                found.append(f"{name} must be a finite number > 0, got {value}")
        if self.schedule not in SCHEDULES:
            found.append(f"unknown schedule '{self.schedule}' (expected one of {', '.join(SCHEDULES)})")
        for name in ("beta", "gamma", "damping"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                found.append(f"{name} must be a finite number ≥ 0, got {value}")
        for name in ("lr_decay", "tau", "pod_energy"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                found.append(f"{name} must lie in (0, 1], got {value}")
        return found


def settings_for(method: str, **given) -> TrainSettings:
    """The settings of `method`: its tuned values (`REGISTRY`), then the `given` ones that are not None."""
    tuned = REGISTRY[method].tuned if method in REGISTRY else {}
    return dataclasses.replace(
        TrainSettings(method=method), **(tuned | {k: v for k, v in given.items() if v is not None})
    )
