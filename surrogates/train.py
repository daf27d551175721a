"""Training the drag network: five methods on one network and one dataset.

Losses in normalised units (outputs divided by their training std), ρ the residual at the mean state:
    supervised: ½|y − y_FEM|² / k + β |c − c_FEM|²                                  (Adam)
    sobolev:    supervised + γ |∂C_D/∂s − (dC_D/ds)_adjoint|² / m                     (Adam)
    dp:         ½|Φᵀ R(w̄ + Φ y)|² / ρ² + β |c − c_FEM|², gradients through Jᵀ          (Adam)
    pg:         ½|y − sg(ỹ)|² / k + β |c − sg(c̃)|², targets from Newton steps        (Adam)
    pg-fresh:   sobolev, on the data and on fresh designs solved from the network's state (Adam)
    hig:        the dp residuals and the gradient misfit, by half-inverse steps       (plain steps)
    hig-sobolev: the sobolev residuals, by half-inverse steps                          (plain steps)
The split into train/validation/test is fixed by the seed. Each method is validated without the solver,
by the labelled loss of what it learns (`TrainingMethod.validation`); the best validation model is kept.
Data sit on the training device; the solver's work runs on CPU processes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from surrogates.artifact import Surrogate
from surrogates.datafile import Dataset
from surrogates.half_inverse import check_memory, hig_step
from surrogates.network import DragNet
from surrogates.physical_gradients import FreshDesigns, newton_targets
from surrogates.physics import CountedPhysics, Physics, run_batch
from surrogates.pod import POD, fit_pod
from surrogates.schedule import BudgetSchedule, PlateauSchedule
from surrogates.settings import HALF_INVERSE_METHODS, PHYSICS_METHODS, REGISTRY, TrainSettings
from surrogates.solver_in_loop import reduced_residual
from surrogates.step_clock import StepClock, TimedPhysics


@dataclass
class Split:
    """Sample indices of the three parts."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass
class TrainResult:
    """The trained surrogate with its learning curve and test metrics."""

    surrogate: Surrogate
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    split: Split | None = None


def resolve_device(name: str) -> str:
    """`auto` → cuda when present, else cpu; refuses `cuda` without a GPU."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here (use auto or cpu)")
    return name


def split_indices(n: int, seed: int, fractions: tuple[float, float] = (0.8, 0.1)) -> Split:
    """Seeded random split into train/validation/test (80/10/10 by default)."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = round(fractions[0] * n)
    n_val = max(1, round(fractions[1] * n))
    return Split(
        np.sort(order[:n_train]), np.sort(order[n_train : n_train + n_val]), np.sort(order[n_train + n_val :])
    )


class _Tensors:
    """Dataset arrays on the device, with POD coefficients as targets."""

    def __init__(self, data: Dataset, pod: POD, device: str):
        def t(a):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)

        self.s, self.re = t(data.s), t(data.re)
        self.y = t(pod.project(data.state))
        self.c = torch.stack([t(data.cd), t(data.cl)], dim=1)
        self.dcd = t(data.dcd)

    def append(self, samples: dict[str, np.ndarray]) -> torch.Tensor:
        """Add samples (s, re, y, c, dcd arrays); returns their indices."""
        first = len(self.s)
        for name, values in samples.items():
            new = torch.as_tensor(values, dtype=torch.float64, device=self.s.device)
            setattr(self, name, torch.cat([getattr(self, name), new]))
        return torch.arange(first, len(self.s), device=self.s.device)


def loss_terms(
    net: DragNet,
    batch: dict[str, torch.Tensor],
    settings: TrainSettings,
    physics: PhysicsContext | None = None,
    method: str | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms of `method` (default: the settings') for one batch; `total` is what Adam minimises."""
    method = method or settings.method
    k = net.n_modes
    s = batch["s"].requires_grad_(method == "sobolev")
    out = net.normalised(s, batch["re"])
    target = (torch.cat([batch["y"], batch["c"]], dim=1) - net.out_mean) / net.out_std
    if method == "dp":
        y = out[:, :k] * net.out_std[:k] + net.out_mean[:k]
        r = reduced_residual(y, *_numpy(batch), physics.physics, physics.pod)
        field_term = 0.5 * torch.mean(torch.sum(r**2, dim=1)) / physics.scale**2
    else:
        if method == "pg":
            y = (out[:, :k] * net.out_std[:k] + net.out_mean[:k]).detach().cpu().numpy()
            targets = newton_targets(
                y, *_numpy(batch), physics.physics, physics.pod, settings.newton_steps, settings.step_size
            )
            proxy = torch.as_tensor(np.concatenate([targets.y, targets.c], axis=1)).to(out)
            target = (proxy - net.out_mean) / net.out_std
        field_term = 0.5 * torch.mean(torch.sum((out[:, :k] - target[:, :k]) ** 2, dim=1)) / k
    coefficient_term = torch.mean(torch.sum((out[:, k:] - target[:, k:]) ** 2, dim=1))
    terms = {"field": field_term, "coefficients": coefficient_term}
    total = field_term + settings.beta * coefficient_term
    if method == "sobolev":
        (grad,) = torch.autograd.grad(out[:, k].sum(), s, create_graph=True)  # ∂(C_D/std)/∂s
        mismatch = grad - batch["dcd"] / net.out_std[k]
        terms["gradient"] = torch.mean(torch.sum(mismatch**2, dim=1)) / s.shape[1]
        total = total + settings.gamma * terms["gradient"]
    terms["total"] = total
    return terms


def _numpy(batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    return batch["s"].detach().cpu().numpy(), batch["re"].detach().cpu().numpy()


@dataclass
class PhysicsContext:
    """What the solver-in-the-loop methods need: the solver's physics, the POD, and the residual scale ρ."""

    physics: Physics
    pod: POD
    scale: float


def train(
    data: Dataset,
    settings: TrainSettings,
    meta: dict,
    progress: Callable[[dict], None] | None = None,
    initial: Surrogate | None = None,
    physics: Physics | None = None,
) -> TrainResult:
    """Fit POD on the training states, train the network, keep the best validation model, test it.

    With `initial`, fine-tune: its POD basis, normalisation and weights are the starting point.
    """
    problems = settings.problems()
    if problems:
        raise ValueError("training settings: " + "; ".join(problems))
    if len(data) < 10:
        raise ValueError(f"the dataset has {len(data)} successful samples; training needs at least 10")
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    split = split_indices(len(data), settings.seed)
    if initial is None:
        pod = fit_pod(data.state[split.train], data.weights, settings.pod_energy, settings.pod_modes)
        net = DragNet(data.s.shape[1], pod.size, settings.width, settings.depth).to(device)
    else:
        pod, net = initial.pod, copy.deepcopy(initial.net).to(device)
    tensors = _Tensors(data, pod, device)
    # Steps of the solver-free Adam methods are too short to synchronise the device after each phase.
    clock = StepClock(device.startswith("cuda"), enabled=settings.method not in ("supervised", "sobolev"))
    context, counted, hig_bytes = None, None, None
    if settings.method in PHYSICS_METHODS:
        if physics is None:
            raise ValueError(f"the {settings.method} method needs the solver's physics")
        counted = CountedPhysics(TimedPhysics(physics, clock))
        calls = [(data.s[i], data.re[i], pod.mean) for i in split.train[:8]]
        mean_residuals = np.stack(run_batch(counted, "residual", calls)) @ pod.basis
        context = PhysicsContext(counted, pod, float(np.sqrt(np.mean(np.sum(mean_residuals**2, axis=1)))))
    if settings.method in HALF_INVERSE_METHODS:
        hig_bytes = check_memory(net, settings.batch, device, settings.gamma > 0)
    train_idx = torch.as_tensor(split.train, device=device)
    val_idx = torch.as_tensor(split.validation, device=device)
    if initial is None:
        inputs = torch.cat([tensors.s, torch.log(tensors.re)[:, None]], dim=1)
        net.set_normalisation(inputs[train_idx], torch.cat([tensors.y, tensors.c], dim=1)[train_idx])

    optimiser = torch.optim.Adam(net.parameters(), lr=settings.lr)

    def batch_of(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "s": tensors.s[idx],
            "re": tensors.re[idx],
            "y": tensors.y[idx],
            "c": tensors.c[idx],
            "dcd": tensors.dcd[idx],
        }

    def step(data_batch: dict[str, torch.Tensor], lr: float) -> None:
        if settings.method in HALF_INVERSE_METHODS:
            fem = (counted, pod, context.scale) if context is not None else (None, None, 1.0)
            s = settings
            hig_step(net, data_batch, s.beta, s.gamma, s.tau, lr, s.damping, *fem, clock=clock)
            return
        for group in optimiser.param_groups:
            group["lr"] = lr
        with clock.phase("network"):
            optimiser.zero_grad(set_to_none=True)
            method = "sobolev" if settings.method == "pg-fresh" else None
            loss_terms(net, data_batch, settings, context, method)["total"].backward()
        with clock.phase("update"):
            optimiser.step()

    validation = batch_of(val_idx)
    if settings.schedule == "plateau":
        schedule = PlateauSchedule(settings.lr)
    else:
        schedule = BudgetSchedule(settings.lr, settings.lr_decay, settings.epochs, settings.budget_seconds)
    fresh = None
    if settings.method == "pg-fresh":
        fresh = FreshDesigns(counted, pod, data.seed, data.next_index, settings.fresh_batch)
        fresh.launch(net)
    best_state, best_loss, history, stop = None, float("inf"), [], "epochs"
    start = time.perf_counter()
    try:
        for epoch in range(settings.epochs):
            lr = schedule.lr_at(epoch, time.perf_counter() - start)
            net.train()
            order = train_idx[torch.randperm(len(train_idx), device=device)]
            for first in range(0, len(order), settings.batch):
                with clock.step():
                    step(batch_of(order[first : first + settings.batch]), lr)
                if time.perf_counter() - start > settings.budget_seconds:
                    break
            net.eval()
            if fresh is not None and fresh.ready():
                train_idx = torch.cat([train_idx, tensors.append(fresh.collect())])
                fresh.launch(net)
            val_loss, cd_error, gradient_error = validation_metrics(net, validation, settings)
            if not np.isfinite(val_loss):
                raise ValueError(
                    f"{settings.method} training diverged in epoch {epoch} (validation loss {val_loss}); "
                    "lower --lr"
                )
            if val_loss < best_loss:
                best_loss, best_state = val_loss, copy.deepcopy(net.state_dict())
            elapsed = time.perf_counter() - start
            history.append(
                {
                    "epoch": epoch,
                    "validation_loss": val_loss,
                    "validation_cd_error": cd_error,
                    "validation_gradient_error": gradient_error,
                    "lr": lr,
                    "seconds": elapsed,
                    "physics_calls": counted.total if counted else 0,
                }
                | ({"fresh_samples": fresh.solved} if fresh else {})
            )
            if progress is not None:
                progress(history[-1])
            if not schedule.update(val_loss):
                stop = "converged"
                break
            if elapsed > settings.budget_seconds:
                stop = "budget"
                break
    except KeyboardInterrupt:
        if best_state is None:
            raise
        stop = "interrupted"
    if fresh is not None and fresh.pending is not None:
        fresh.collect()  # the batch in flight: its solves are counted, its samples not trained on
    net.load_state_dict(best_state)
    surrogate = Surrogate(
        net,
        pod,
        meta
        | {
            "method": settings.method,
            "re_range": list(data.re_range),
            "spec": data.spec.to_dict(),
            "mesh_sha256": data.mesh_sha256,
        },
    )
    metrics = evaluate(surrogate, data, split.test)
    metrics |= {
        "validation_loss": best_loss,
        "epochs": len(history),
        "train_seconds": history[-1]["seconds"],
        "pod_modes": pod.size,
        "pod_energy": pod.energy,
        "samples": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
        "physics_calls": dict(counted.calls) if counted else {},
        "stop": stop,
        "interrupted": stop == "interrupted",
    }
    if fresh is not None:
        metrics["fresh"] = {
            "solved": fresh.solved,
            "failed": fresh.failed,
            "newton_iterations": [  # per batch, mean over the solves that started from the network
                float(np.mean([i for i in batch if i >= 0])) if any(i >= 0 for i in batch) else None
                for batch in fresh.iterations
            ],
            "restarted": sum(i < 0 for batch in fresh.iterations for i in batch),
        }
    if clock.steps:  # median seconds per step (after the first) of each phase, on this device
        metrics["step_seconds"] = clock.medians(skip=1) | {"steps": len(clock.steps), "device": device}
    if settings.method in HALF_INVERSE_METHODS:
        metrics["jacobian_bytes"] = hig_bytes
    surrogate.meta["metrics"] = metrics
    surrogate.meta["settings"] = settings.__dict__
    return TrainResult(surrogate, history, metrics, split)


def validation_metrics(
    net: DragNet, validation: dict[str, torch.Tensor], settings: TrainSettings
) -> tuple[float, float, float]:
    """On the validation samples: the method's validation loss, the median relative C_D error and the
    median relative error of ∂C_D/∂s."""
    batch = {k: v.detach().clone() for k, v in validation.items()}
    method = REGISTRY[settings.method].validation
    loss = float(loss_terms(net, batch, settings, None, method)["total"].detach())
    s = batch["s"].detach().requires_grad_(True)
    cd = net(s, batch["re"])[1]
    (gradient,) = torch.autograd.grad(cd.sum(), s)
    with torch.no_grad():
        cd_error = torch.median(torch.abs(cd / batch["c"][:, 0] - 1))
        gradient_error = torch.median(
            torch.linalg.norm(gradient - batch["dcd"], dim=1) / torch.linalg.norm(batch["dcd"], dim=1)
        )
    return loss, float(cd_error), float(gradient_error)


def evaluate(surrogate: Surrogate, data: Dataset, idx: np.ndarray) -> dict:
    """Test metrics: C_D relative error (median, p95, max), median gradient cosine and relative gradient
    error |∇C_D − adjoint| / |adjoint|, median field error."""
    s, re = data.s[idx], data.re[idx]
    cd, grad = surrogate.drag_gradient(s, re)
    errors = np.abs(cd / data.cd[idx] - 1)
    reference = data.dcd[idx]
    cosine = np.sum(grad * reference, axis=1) / (
        np.linalg.norm(grad, axis=1) * np.linalg.norm(reference, axis=1)
    )
    w = data.weights
    predicted = surrogate.state(s, re)
    field = np.sqrt(
        np.sum(w * (predicted - data.state[idx]) ** 2, axis=1) / np.sum(w * data.state[idx] ** 2, axis=1)
    )
    return {
        "cd_error_median": float(np.median(errors)),
        "cd_error_p95": float(np.percentile(errors, 95)),
        "cd_error_max": float(np.max(errors)),
        "gradient_cosine_median": float(np.median(cosine)),
        "gradient_error_median": float(
            np.median(np.linalg.norm(grad - reference, axis=1) / np.linalg.norm(reference, axis=1))
        ),
        "field_error_median": float(np.median(field)),
        "test_samples": len(idx),
    }
