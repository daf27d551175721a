"""Training methods as objects: each owns its step on a batch, what it needs, and its validation loss.

As `torch.optim` does for update rules, the epoch loop (`surrogates.train`) never asks which method it runs:
it calls `step(batch, lr)` per batch, `end_epoch()` after each epoch, `validation_loss(batch)`, and at the
end `finish()` and `metrics()`. The torch-free description of each method (name, whether it needs the
solver, its update, tuned settings, validation loss) is its `spec`, from `surrogates.settings.REGISTRY`.

Losses in normalised units (outputs divided by their training std σ; k POD modes, m shape parameters,
ρ the residual scale at the mean state, `sg` stops gradients); batches hold s (B, m), re (B,), y (B, k),
c (B, 2) = (C_D, C_L) and dcd (B, m) (`surrogates.samples.Samples.batch`):
    supervised: ½|y − y_FEM|² / k + β |c − c_FEM|²
    sobolev:    supervised + γ |∂C_D/∂s − (dC_D/ds)_adjoint|² / m
    dp:         ½|Φᵀ R(w̄ + Φ y)|² / ρ² + β |c − c_FEM|², gradients through Jᵀ
    pg:         ½|y − sg(ỹ)|² / k + β |c − sg(c̃)|², targets from Newton steps
each a mean over the batch, minimised by Adam (`pg-fresh`: sobolev, on the data and on fresh designs);
`hig` and `hig-sobolev` take half-inverse steps over the residuals of dp and sobolev
(`surrogates.half_inverse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from surrogates.datafile import Dataset
from surrogates.half_inverse import NO_CLOCK, check_memory, hig_step
from surrogates.network import DragNet
from surrogates.physical_gradients import FreshDesigns, newton_targets
from surrogates.physics import CountedPhysics, Physics, run_batch
from surrogates.pod import POD
from surrogates.samples import Samples
from surrogates.settings import REGISTRY, TrainingMethod, TrainSettings
from surrogates.solver_in_loop import reduced_residual
from surrogates.step_clock import StepClock, TimedPhysics

Batch = dict[str, torch.Tensor]

SCALE_SAMPLES = 8  # training samples whose residual at the mean state sets the scale ρ


def _normalised_target(net: DragNet, batch: Batch) -> torch.Tensor:
    """The labels (y, c) of a batch in normalised units: (B, k + 2)."""
    return (torch.cat([batch["y"], batch["c"]], dim=1) - net.out_mean) / net.out_std


def _state_misfit(out: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """½ mean over the batch of |y − target|² / k, for outputs and targets (B, k + 2) in normalised units."""
    return 0.5 * torch.mean(torch.sum((out[:, :k] - target[:, :k]) ** 2, dim=1)) / k


def _coefficient_misfit(out: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over the batch of |c − target|² for c = (C_D, C_L); normalised (B, k + 2) as `_state_misfit`."""
    return torch.mean(torch.sum((out[:, k:] - target[:, k:]) ** 2, dim=1))


def _terms(field: torch.Tensor, coefficients: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    return {"field": field, "coefficients": coefficients, "total": field + beta * coefficients}


def supervised_loss(net: DragNet, batch: Batch, settings: TrainSettings) -> dict[str, torch.Tensor]:
    """Loss terms `field`, `coefficients` and their weighted sum `total` (what Adam minimises) of the
    supervised loss on one batch; scalars, in normalised units."""
    out = net.normalised(batch["s"], batch["re"])
    target = _normalised_target(net, batch)
    k = net.n_modes
    return _terms(_state_misfit(out, target, k), _coefficient_misfit(out, target, k), settings.beta)


def sobolev_loss(net: DragNet, batch: Batch, settings: TrainSettings) -> dict[str, torch.Tensor]:
    """The supervised terms plus `gradient`, the misfit of ∂(C_D/σ_CD)/∂s to the adjoint gradient, in
    `total` with weight γ. Sets `batch["s"]` to require gradients."""
    s = batch["s"].requires_grad_(True)
    out = net.normalised(s, batch["re"])
    target = _normalised_target(net, batch)
    k = net.n_modes
    terms = _terms(_state_misfit(out, target, k), _coefficient_misfit(out, target, k), settings.beta)
    (grad,) = torch.autograd.grad(out[:, k].sum(), s, create_graph=True)  # ∂(C_D/std)/∂s
    mismatch = grad - batch["dcd"] / net.out_std[k]
    gradient = torch.mean(torch.sum(mismatch**2, dim=1)) / s.shape[1]
    return terms | {"gradient": gradient, "total": terms["total"] + settings.gamma * gradient}


VALIDATION_LOSSES = {"supervised": supervised_loss, "sobolev": sobolev_loss}  # by `TrainingMethod.validation`


@dataclass(frozen=True)
class Context:
    """What a method may draw on: the network it trains, the POD of the states, the training samples, the
    dataset with the rows of its training part (n_train,), the step clock, and the solver's physics as
    given to `train` (None without it)."""

    net: DragNet
    pod: POD
    samples: Samples
    data: Dataset
    train_rows: np.ndarray
    clock: StepClock = NO_CLOCK
    physics: Physics | None = None


@dataclass(frozen=True)
class PhysicsContext:
    """The solver as the methods that need it see it: its physics (calls counted, and timed as the clock's
    `physics` phase), the POD, and the residual scale ρ (the RMS of Φᵀ R at the mean state)."""

    physics: CountedPhysics
    pod: POD
    scale: float


def physics_context(context: Context) -> PhysicsContext:
    """Wrap the context's physics; ρ from the first `SCALE_SAMPLES` training samples."""
    counted = CountedPhysics(TimedPhysics(context.physics, context.clock))
    data, pod = context.data, context.pod
    calls = [(data.s[i], data.re[i], pod.mean) for i in context.train_rows[:SCALE_SAMPLES]]
    mean_residuals = np.stack(run_batch(counted, "residual", calls)) @ pod.basis
    return PhysicsContext(counted, pod, float(np.sqrt(np.mean(np.sum(mean_residuals**2, axis=1)))))


class Method:
    """A training method on one network; `spec` says what it is. Building it sets up the solver when the
    method needs it (refused without one). Subclasses define `step`; the other hooks do nothing here."""

    spec: ClassVar[TrainingMethod]

    def __init__(self, settings: TrainSettings, context: Context):
        if self.spec.needs_physics and context.physics is None:
            raise ValueError(f"the {self.spec.name} method needs the solver's physics")
        self.settings, self.net, self.clock = settings, context.net, context.clock
        self.solver = physics_context(context) if self.spec.needs_physics else None

    def step(self, batch: Batch, lr: float) -> None:
        """Update the network on one batch at learning rate (or step size) lr."""
        raise NotImplementedError

    def validation_loss(self, batch: Batch) -> float:
        """The loss that selects the best network and decides convergence, solver-free (`spec.validation`)."""
        loss = VALIDATION_LOSSES[self.spec.validation]
        return float(loss(self.net, batch, self.settings)["total"].detach())

    def end_epoch(self) -> None:
        """Called after each epoch, with the network in eval mode."""

    def finish(self) -> None:
        """Called once after the last epoch."""

    def physics_calls(self) -> dict[str, int]:
        """Solver calls so far by name (one per sample); empty for the solver-free methods."""
        return dict(self.solver.physics.calls) if self.solver else {}

    def history(self) -> dict:
        """What the method adds to each epoch's history entry."""
        return {}

    def metrics(self) -> dict:
        """What the method adds to the metrics of the trained surrogate."""
        return {}


class AdamMethod(Method):
    """A method whose step is one Adam step on its loss; subclasses define `loss`."""

    def __init__(self, settings: TrainSettings, context: Context):
        super().__init__(settings, context)
        self.optimiser = torch.optim.Adam(self.net.parameters(), lr=settings.lr)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Loss terms of one batch (scalars); `total` is what Adam minimises."""
        raise NotImplementedError

    def step(self, batch: Batch, lr: float) -> None:
        """One Adam step on the loss `total`; clock phases `network` (forward, backward) and `update`."""
        for group in self.optimiser.param_groups:
            group["lr"] = lr
        with self.clock.phase("network"):
            self.optimiser.zero_grad(set_to_none=True)
            self.loss(batch)["total"].backward()
        with self.clock.phase("update"):
            self.optimiser.step()


def _numpy(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    return batch["s"].detach().cpu().numpy(), batch["re"].detach().cpu().numpy()


class Supervised(AdamMethod):
    """supervised: Adam on the labelled state and C_D/C_L misfits (`supervised_loss`)."""

    spec = REGISTRY["supervised"]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        return supervised_loss(self.net, batch, self.settings)


class Sobolev(AdamMethod):
    """sobolev: Adam on the supervised misfits and the adjoint-gradient misfit (`sobolev_loss`)."""

    spec = REGISTRY["sobolev"]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        return sobolev_loss(self.net, batch, self.settings)


class DifferentiablePhysics(AdamMethod):
    """dp: the state term is the FEM residual of the predicted state; gradients through the solver's Jᵀ."""

    spec = REGISTRY["dp"]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        net, k, solver = self.net, self.net.n_modes, self.solver
        out = net.normalised(batch["s"], batch["re"])
        y = out[:, :k] * net.out_std[:k] + net.out_mean[:k]
        r = reduced_residual(y, *_numpy(batch), solver.physics, solver.pod)
        field = 0.5 * torch.mean(torch.sum(r**2, dim=1)) / solver.scale**2
        coefficients = _coefficient_misfit(out, _normalised_target(net, batch), k)
        return _terms(field, coefficients, self.settings.beta)


class PhysicalGradients(AdamMethod):
    """pg: the targets are the solver's Newton corrections of the predicted state (`newton_targets`)."""

    spec = REGISTRY["pg"]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        net, k, solver, settings = self.net, self.net.n_modes, self.solver, self.settings
        out = net.normalised(batch["s"], batch["re"])
        y = (out[:, :k] * net.out_std[:k] + net.out_mean[:k]).detach().cpu().numpy()
        targets = newton_targets(
            y, *_numpy(batch), solver.physics, solver.pod, settings.newton_steps, settings.step_size
        )
        proxy = torch.as_tensor(np.concatenate([targets.y, targets.c], axis=1)).to(out)
        target = (proxy - net.out_mean) / net.out_std
        return _terms(_state_misfit(out, target, k), _coefficient_misfit(out, target, k), settings.beta)


class FreshPhysicalGradients(Sobolev):
    """pg-fresh: the sobolev loss, on the data and on fresh designs (`FreshDesigns`) that the solver solves
    from the network's state while the network trains; a solved batch joins the samples after an epoch."""

    spec = REGISTRY["pg-fresh"]

    def __init__(self, settings: TrainSettings, context: Context):
        super().__init__(settings, context)
        self.samples = context.samples
        data, physics = context.data, self.solver.physics
        self.fresh = FreshDesigns(physics, context.pod, data.seed, data.next_index, settings.fresh_batch)
        self.fresh.launch(self.net)

    def end_epoch(self) -> None:
        if self.fresh.ready():
            self.samples.add(self.fresh.collect())
            self.fresh.launch(self.net)

    def finish(self) -> None:
        if self.fresh.pending is not None:
            self.fresh.collect()  # the batch in flight: its solves are counted, its samples not trained on

    def history(self) -> dict:
        return {"fresh_samples": self.fresh.solved}

    def metrics(self) -> dict:
        iterations = self.fresh.iterations
        return {
            "fresh": {
                "solved": self.fresh.solved,
                "failed": self.fresh.failed,
                "newton_iterations": [  # per batch, mean over the solves that started from the network
                    float(np.mean([i for i in batch if i >= 0])) if any(i >= 0 for i in batch) else None
                    for batch in iterations
                ],
                "restarted": sum(i < 0 for batch in iterations for i in batch),
            }
        }


class HalfInverse(Method):
    """A half-inverse step (`hig_step`) over the joint Jacobian of the method's residuals: the FEM residual
    of the predicted state where the method needs the solver, else the state misfit; refused (ValueError)
    when the Jacobian would not fit in the device's memory."""

    def __init__(self, settings: TrainSettings, context: Context):
        super().__init__(settings, context)
        device = context.samples.device
        self.jacobian_bytes = check_memory(self.net, settings.batch, device, settings.gamma > 0)

    def step(self, batch: Batch, lr: float) -> None:
        """Clock phases `network`, `physics`, `svd`, `update` (`hig_step`)."""
        solver, s = self.solver, self.settings
        fem = (solver.physics, solver.pod, solver.scale) if solver else (None, None, 1.0)
        hig_step(self.net, batch, s.beta, s.gamma, s.tau, lr, s.damping, *fem, clock=self.clock)

    def metrics(self) -> dict:
        return {"jacobian_bytes": self.jacobian_bytes}


class HalfInverseGradients(HalfInverse):
    """hig: over the FEM residual of the predicted state, C_D/C_L and the adjoint-gradient misfit."""

    spec = REGISTRY["hig"]


class HalfInverseSobolev(HalfInverse):
    """hig-sobolev: over the state, C_D/C_L and adjoint-gradient misfits (the sobolev loss), solver-free."""

    spec = REGISTRY["hig-sobolev"]


METHOD_TYPES: dict[str, type[Method]] = {
    kind.spec.name: kind
    for kind in (
        Supervised,
        Sobolev,
        DifferentiablePhysics,
        PhysicalGradients,
        FreshPhysicalGradients,
        HalfInverseGradients,
        HalfInverseSobolev,
    )
}


def build_method(settings: TrainSettings, context: Context) -> Method:
    """The method `settings.method` (one of `METHOD_TYPES`, in the order of `REGISTRY`) ready to train
    `context.net`, which must carry its normalisation: pg-fresh starts its first solves from it."""
    return METHOD_TYPES[settings.method](settings, context)
