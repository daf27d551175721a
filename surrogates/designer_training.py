"""Training the designer through the solver: supervised, PG, DP and HIG on one physics interface.

Every method starts from the same seed, the designer regressed onto a few Newton optima (`supervised`
alone stops there), then spends its FEM work in rounds: each round draws fresh conditions, answers them
(the members' mean, projected exactly onto each condition's constraints by `DesignPhysics.answer`), asks
the physics about those answers (`DesignPhysics.local`: one FEM solve and adjoint each, and the exact
Hessian for PG and HIG) and updates the members:
- pg: the target is the answer after a constrained Newton step on the exact Hessian, sg(s + Δs) (the
  solver's local inverse, scale-free across Re); every member is regressed onto all targets so far;
- dp: one Adam step along Σ (∂g/∂θ)ᵀ r / J per round, r the stationarity residual (the adjoint gradient
  of J less its part normal to the active constraints, `LocalModels.residual`);
- hig: half-inverse steps (`surrogates.half_inverse.half_inverse_update`) over the joint Jacobian
  (H/J) ∂g/∂θ of network and stationarity residual, on every linearised residual so far
  (r + H (g(c) − s)) / J, beside the seed optima's misfits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch.func import functional_call

from surrogates.designer import DesignerEnsemble, DesignerNet
from surrogates.half_inverse import checked_half_inverse_step

METHODS = ("supervised", "pg", "dp", "hig")


@dataclass
class LocalModels:
    """What the physics says about shapes s (n, m) at conditions (n, 3): the objective J (n,), the
    stationarity residual (n, m) (zero at a KKT point), the exact Hessian on the constraints' tangent
    space (n, m, m), the shape after one constrained Newton step (n, m), the gap that step's model
    predicts, (J(s) − q(s + Δs)) / J (n,), and the projector onto that tangent space (n, m, m; None: no
    constraints) (None where not asked for)."""

    s: np.ndarray
    objective: np.ndarray
    residual: np.ndarray
    hessian: np.ndarray | None = None
    newton: np.ndarray | None = None
    model_gap: np.ndarray | None = None
    tangent: np.ndarray | None = None


class DesignPhysics(Protocol):
    """The solver as the designer's training sees it (implemented on the FEM side)."""

    def answer(self, conditions: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Shapes (n, m) projected exactly onto the constraints of conditions (n, 3)."""
        ...

    def local(self, conditions: np.ndarray, s: np.ndarray, hessian: bool) -> LocalModels:
        """FEM solve and adjoint at each shape (n, m) of conditions (n, 3); with `hessian`, also the exact
        Hessian and the Newton target."""
        ...


@dataclass
class DesignerTraining:
    """Settings of a training run: method, rounds of fresh conditions and their size, how many drawn
    conditions each round picks from (`steer` × `per_round`, those where the members disagree most:
    sampling steered by the model; 1 takes the draw as it is), L-BFGS iterations per fit, DP's Adam
    learning rate, HIG's learning rate, truncation and steps per round."""

    method: str = "pg"
    rounds: int = 6
    per_round: int = 8
    steer: int = 1
    fit_iterations: int = 400
    dp_lr: float = 1e-3  # of 1e-4, 1e-3, 3e-3, 1e-2 the best (`bench/designer_tune.py`)
    hig_lr: float = 0.5  # with τ 1e-6 the best of 0.02…1 and 5…50 steps (`bench/designer_tune.py`)
    hig_tau: float = 1e-6
    hig_steps: int = 50


@dataclass
class TrainingRecord:
    """What a run spent and saw: FEM solves and Hessians after each round (cumulative), the mean relative
    stationarity residual |r| / J of each round's answers, the conditions and target shapes PG regresses
    onto (the seed's, then each round's), and per round with Hessians its conditions (n, 3), local models
    and the members' spread (n, m) at its answers before the update."""

    solves: list[int] = field(default_factory=list)
    hessians: list[int] = field(default_factory=list)
    mean_residual: list[float] = field(default_factory=list)
    conditions: list[np.ndarray] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    rated: list[tuple[np.ndarray, LocalModels, np.ndarray]] = field(default_factory=list)


Draw = Callable[[int], np.ndarray]


def train_designer(
    ensemble: DesignerEnsemble,
    physics: DesignPhysics,
    seed_conditions: np.ndarray,
    seed_optima: np.ndarray,
    draw: Draw,
    settings: DesignerTraining,
    progress: Callable[[int, TrainingRecord, DesignerEnsemble], None] | None = None,
) -> TrainingRecord:
    """Train `ensemble` from the seed optima (n₀, m) at their conditions (n₀, 3), then `settings.rounds`
    rounds of `settings.per_round` fresh conditions from `draw(n)` → (n, 3) by `settings.method`;
    `progress(round, record, ensemble)` after each round."""
    if settings.method not in METHODS:
        raise ValueError(f"unknown designer training method {settings.method!r}; one of {', '.join(METHODS)}")
    ensemble.set_normalisation(seed_conditions, seed_optima)
    ensemble.fit(seed_conditions, seed_optima, settings.fit_iterations)
    record = TrainingRecord(conditions=[seed_conditions], targets=[seed_optima])
    if settings.method == "supervised":
        return record
    optimisers = [torch.optim.Adam(net.parameters(), lr=settings.dp_lr) for net in ensemble.nets]
    linearised: list[tuple[np.ndarray, LocalModels]] = []
    solves = hessians = 0
    for round_ in range(settings.rounds):
        conditions = steered_conditions(ensemble, draw, settings)
        raw, spread = ensemble(conditions)
        s = physics.answer(conditions, raw)
        local = physics.local(conditions, s, hessian=settings.method != "dp")
        solves += len(s)
        if local.hessian is not None:
            hessians += len(s)
            record.rated.append((conditions, local, spread))
        record.solves.append(solves)
        record.hessians.append(hessians)
        record.mean_residual.append(float(np.mean(np.abs(local.residual) / local.objective[:, None])))
        if settings.method == "pg":
            record.conditions.append(conditions)
            record.targets.append(local.newton)
            ensemble.fit(
                np.concatenate(record.conditions), np.concatenate(record.targets), settings.fit_iterations
            )
        elif settings.method == "dp":
            for net, optimiser in zip(ensemble.nets, optimisers, strict=True):
                dp_step(net, optimiser, conditions, local)
        else:
            linearised.append((conditions, local))
            for net in ensemble.nets:
                lr = settings.hig_lr
                for _ in range(settings.hig_steps):
                    lr = hig_step(net, linearised, seed_conditions, seed_optima, settings.hig_tau, lr)
        if progress is not None:
            progress(round_ + 1, record, ensemble)
    return record


def steered_conditions(ensemble: DesignerEnsemble, draw: Draw, settings: DesignerTraining) -> np.ndarray:
    """The round's conditions (per_round, 3): of `steer` × `per_round` drawn, those where the members'
    answers spread most (sum of squared standard deviations of s)."""
    drawn = draw(settings.per_round * settings.steer)
    if settings.steer == 1:
        return drawn
    _, spread = ensemble(drawn)
    return drawn[np.argsort(-np.sum(spread**2, axis=1), kind="stable")[: settings.per_round]]


def dp_step(net: DesignerNet, optimiser: torch.optim.Optimizer, conditions: np.ndarray, local: LocalModels):
    """One Adam step along the adjoint gradient of mean J/J₀ back-propagated through the network."""
    optimiser.zero_grad()
    shapes = net(torch.as_tensor(conditions))
    direction = torch.as_tensor(local.residual / local.objective[:, None])
    (shapes * direction).sum().div(len(conditions)).backward()
    optimiser.step()


def hig_step(
    net: DesignerNet,
    linearised: list[tuple[np.ndarray, LocalModels]],
    seed_conditions: np.ndarray,
    seed_optima: np.ndarray,
    tau: float,
    lr: float,
) -> float:
    """One half-inverse update of `net` (learning rate `lr`, truncation `tau`) over the stacked residuals:
    the seed optima's misfits (g(c) − s*) / σ_s and every linearised stationarity residual
    r / J + K (g(c) − s), K from `_stiffness`. An update that raises |residuals| is undone (the
    half-inverse step is not scale-free: without this it diverges on the FEM's residuals). Returns the
    learning rate for the next update: `lr`, halved after an undone one."""
    conditions = np.concatenate([seed_conditions] + [c for c, _ in linearised])
    c = torch.as_tensor(conditions)
    n_seed = len(seed_conditions)
    seed = torch.as_tensor(seed_optima)
    hessians = torch.as_tensor(np.concatenate([_stiffness(m) for _, m in linearised]))
    residual0 = torch.as_tensor(np.concatenate([m.residual / m.objective[:, None] for _, m in linearised]))
    where = torch.as_tensor(np.concatenate([m.s for _, m in linearised]))

    def residuals(params: dict[str, torch.Tensor]) -> torch.Tensor:
        shapes = functional_call(net, params, (c,))
        misfit = (shapes[:n_seed] - seed) / net.out_std
        moved = residual0 + torch.einsum("nij,nj->ni", hessians, shapes[n_seed:] - where)
        return torch.cat([misfit.reshape(-1), moved.reshape(-1)])

    return checked_half_inverse_step(net, residuals, tau, lr)


def _stiffness(local: LocalModels) -> np.ndarray:
    """(n, m, m) the Jacobian of a linearised residual in the network's output: P H P / J along the
    constraints' tangent space and its mean curvature across it (I − P), so that the network's output is
    held on the constraints (P H P alone leaves it free to drift off them, and the projection of a drifted
    output lands elsewhere along them)."""
    scaled = local.hessian / local.objective[:, None, None]
    if local.tangent is None:
        return scaled
    normal = np.eye(scaled.shape[1]) - local.tangent
    curvature = np.trace(scaled, axis1=1, axis2=2) / np.trace(local.tangent, axis1=1, axis2=2)
    return scaled + curvature[:, None, None] * normal
