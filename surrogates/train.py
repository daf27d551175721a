"""Training the drag network: one epoch loop for every training method, on one network and one dataset.

The methods (`surrogates.methods`: their losses, steps and validation losses; `surrogates.settings.REGISTRY`:
what each is) plug into the same loop, which keeps the best validation model and tests it. The split into
train/validation/test is fixed by the seed. Each method is validated without the solver, by the labelled
loss of what it learns (`TrainingMethod.validation`). Data sit on the training device; the solver's work
runs on CPU processes.
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
from surrogates.methods import Context, Method, build_method
from surrogates.network import DragNet
from surrogates.physics import Physics
from surrogates.pod import POD, fit_pod
from surrogates.samples import Samples
from surrogates.schedule import BudgetSchedule, PlateauSchedule
from surrogates.settings import REGISTRY, TrainSettings
from surrogates.step_clock import StepClock


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


def train(
    data: Dataset,
    settings: TrainSettings,
    meta: dict,
    progress: Callable[[dict], None] | None = None,
    initial: Surrogate | None = None,
    physics: Physics | None = None,
) -> TrainResult:
    """Fit POD on the training states, train the network by the settings' method, keep the best validation
    model, test it. `meta` goes into the surrogate's metadata; `progress` gets each epoch's history entry.

    With `initial`, fine-tune: its POD basis, normalisation and weights are the starting point. `physics` is
    the solver, for the methods that need it.
    """
    problems = settings.problems()
    if problems:
        raise ValueError("training settings: " + "; ".join(problems))
    if len(data) < 10:
        raise ValueError(f"the dataset has {len(data)} successful samples; training needs at least 10")
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    split = split_indices(len(data), settings.seed)
    pod, net = _network(data, settings, split, initial, device)
    samples = Samples(data, pod, split.train, device)
    if initial is None:
        _normalise(net, samples)
    clock = StepClock(device.startswith("cuda"), enabled=REGISTRY[settings.method].timed)
    method = build_method(settings, Context(net, pod, samples, data, split.train, clock, physics))
    validation = samples.batch(torch.as_tensor(split.validation, device=device))
    run = _epochs(method, samples, validation, clock, progress)
    method.finish()
    net.load_state_dict(run.best_state)
    surrogate = Surrogate(net, pod, meta | _provenance(data, settings))
    metrics = _metrics(surrogate, data, split, run, method, clock, device)
    surrogate.meta |= {"metrics": metrics, "settings": settings.__dict__}
    return TrainResult(surrogate, run.history, metrics, split)


def _network(
    data: Dataset, settings: TrainSettings, split: Split, initial: Surrogate | None, device: str
) -> tuple[POD, DragNet]:
    """The POD of the training states and a new network on `device`, or those of `initial`."""
    if initial is not None:
        return initial.pod, copy.deepcopy(initial.net).to(device)
    pod = fit_pod(data.state[split.train], data.weights, settings.pod_energy, settings.pod_modes)
    return pod, DragNet(data.s.shape[1], pod.size, settings.width, settings.depth).to(device)


def _normalise(net: DragNet, samples: Samples) -> None:
    """Set the network's normalisation from the training samples' inputs (s, log Re) and outputs (y, c)."""
    inputs = torch.cat([samples.s, torch.log(samples.re)[:, None]], dim=1)
    net.set_normalisation(inputs[samples.train], torch.cat([samples.y, samples.c], dim=1)[samples.train])


def _provenance(data: Dataset, settings: TrainSettings) -> dict:
    """What the surrogate's metadata says it was trained by and for."""
    return {
        "method": settings.method,
        "re_range": list(data.re_range),
        "spec": data.spec.to_dict(),
        "mesh_sha256": data.mesh_sha256,
    }


@dataclass(frozen=True)
class _Run:
    """What the epochs left: their history, the best validation loss and its weights, why they stopped."""

    history: list[dict]
    best_loss: float
    best_state: dict
    stop: str


def _epochs(
    method: Method,
    samples: Samples,
    validation: dict[str, torch.Tensor],
    clock: StepClock,
    progress: Callable[[dict], None] | None,
) -> _Run:
    """Epochs until the epoch cap, the budget or (plateau schedule) convergence; Ctrl-C ends them once a
    model has been validated."""
    settings = method.settings
    if settings.schedule == "plateau":
        schedule = PlateauSchedule(settings.lr)
    else:
        schedule = BudgetSchedule(settings.lr, settings.lr_decay, settings.epochs, settings.budget_seconds)
    best_state, best_loss, history, stop = None, float("inf"), [], "epochs"
    start = time.perf_counter()
    try:
        for epoch in range(settings.epochs):
            lr = schedule.lr_at(epoch, time.perf_counter() - start)
            _epoch(method, samples, clock, lr, start)
            validated = _validation_metrics(method, validation, epoch)
            if validated["validation_loss"] < best_loss:
                best_loss, best_state = validated["validation_loss"], copy.deepcopy(method.net.state_dict())
            elapsed = time.perf_counter() - start
            calls = sum(method.physics_calls().values())
            history.append(
                {"epoch": epoch}
                | validated
                | {"lr": lr, "seconds": elapsed, "physics_calls": calls}
                | method.history()
            )
            if progress is not None:
                progress(history[-1])
            if not schedule.update(validated["validation_loss"]):
                stop = "converged"
                break
            if elapsed > settings.budget_seconds:
                stop = "budget"
                break
    except KeyboardInterrupt:
        if best_state is None:
            raise
        stop = "interrupted"
    return _Run(history, best_loss, best_state, stop)


def _epoch(method: Method, samples: Samples, clock: StepClock, lr: float, start: float) -> None:
    """One pass over the training samples in seeded random order, in batches; it ends early when the budget
    (seconds since `start`, a `time.perf_counter` reading) runs out."""
    settings = method.settings
    method.net.train()
    order = samples.train[torch.randperm(len(samples.train), device=samples.device)]
    for first in range(0, len(order), settings.batch):
        with clock.step():
            method.step(samples.batch(order[first : first + settings.batch]), lr)
        if time.perf_counter() - start > settings.budget_seconds:
            break
    method.net.eval()
    method.end_epoch()


def _validation_metrics(method: Method, validation: dict[str, torch.Tensor], epoch: int) -> dict[str, float]:
    """On the validation samples: the method's validation loss, the median relative C_D error and the
    median relative error of ∂C_D/∂s; refuses (ValueError) a loss that is not finite."""
    batch = {k: v.detach().clone() for k, v in validation.items()}
    loss = method.validation_loss(batch)
    if not np.isfinite(loss):
        raise ValueError(
            f"{method.settings.method} training diverged in epoch {epoch} (validation loss {loss}); "
            "lower --lr"
        )
    s = batch["s"].detach().requires_grad_(True)
    cd = method.net(s, batch["re"])[1]
    (gradient,) = torch.autograd.grad(cd.sum(), s)
    with torch.no_grad():
        cd_error = torch.median(torch.abs(cd / batch["c"][:, 0] - 1))
        gradient_error = torch.median(
            torch.linalg.norm(gradient - batch["dcd"], dim=1) / torch.linalg.norm(batch["dcd"], dim=1)
        )
    return {
        "validation_loss": loss,
        "validation_cd_error": float(cd_error),
        "validation_gradient_error": float(gradient_error),
    }


def _metrics(
    surrogate: Surrogate,
    data: Dataset,
    split: Split,
    run: _Run,
    method: Method,
    clock: StepClock,
    device: str,
) -> dict:
    """Test metrics (`evaluate`), how training went, what the method adds, and the median seconds per step
    (after the first) of each clock phase on `device`."""
    pod = surrogate.pod
    sizes = {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)}
    timing = (
        {"step_seconds": clock.medians(skip=1) | {"steps": len(clock.steps), "device": device}}
        if clock.steps
        else {}
    )
    return (
        evaluate(surrogate, data, split.test)
        | {
            "validation_loss": run.best_loss,
            "epochs": len(run.history),
            "train_seconds": run.history[-1]["seconds"],
            "pod_modes": pod.size,
            "pod_energy": pod.energy,
            "samples": sizes,
            "physics_calls": method.physics_calls(),
            "stop": run.stop,
            "interrupted": run.stop == "interrupted",
        }
        | method.metrics()
        | timing
    )


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
