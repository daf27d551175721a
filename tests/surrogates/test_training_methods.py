"""The registry of training methods drives the CLI's choices and each method's tuned defaults."""

from __future__ import annotations

import numpy as np
import pytest

from shapeopt.cli import build_parser
from shapeopt.cli.common import options_for
from surrogates.settings import (
    HALF_INVERSE_METHODS,
    METHODS,
    PHYSICS_METHODS,
    REGISTRY,
    TrainSettings,
    settings_for,
)
from tests.helpers import synthetic_dataset


def _train_settings(*options: str) -> TrainSettings:
    args = build_parser().parse_args(["train", "case.toml", "--data", "d.h5", "--out", "s.pt", *options])
    return settings_for(**options_for(args, TrainSettings))


def test_registry_names_every_method_once_and_which_need_the_solver():
    assert (
        METHODS
        == tuple(REGISTRY)
        == (
            "supervised",
            "sobolev",
            "dp",
            "pg",
            "pg-fresh",
            "hig",
            "hig-sobolev",
        )
    )
    assert PHYSICS_METHODS == ("dp", "pg", "pg-fresh", "hig")
    assert HALF_INVERSE_METHODS == ("hig", "hig-sobolev")
    assert all(REGISTRY[m].description for m in METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_train_takes_each_method_with_its_tuned_settings(method):
    settings = _train_settings("--method", method)
    assert settings.method == method
    for key, value in REGISTRY[method].tuned.items():
        assert getattr(settings, key) == value
    assert settings.epochs == TrainSettings.epochs  # untuned settings keep the library default


def test_given_options_win_over_tuned_ones():
    settings = _train_settings("--method", "hig", "--lr", "0.05", "--batch", "8")
    assert (settings.lr, settings.batch, settings.tau) == (0.05, 8, REGISTRY["hig"].tuned["tau"])
    assert settings.lr != REGISTRY["hig"].tuned["lr"]


def test_cli_choices_come_from_the_registry():
    parser = build_parser()
    for command in (["train", "c.toml", "--data", "d.h5", "--out", "s.pt"], ["run", "c.toml"]):
        flag = "--method" if command[0] == "train" else "--train-method"
        with pytest.raises(SystemExit):
            parser.parse_args([*command, flag, "adam"])
    args = parser.parse_args(["run", "c.toml", "--train-method", "hig"])
    assert args.train_method == "hig"
    assert parser.parse_args(["run", "c.toml"]).train_method == "sobolev"


def test_plateau_schedule_lowers_the_rate_on_plateaus_and_stops_after_the_third():
    from surrogates.schedule import PLATEAU_STAGES, PlateauSchedule

    improving = PlateauSchedule(1.0)
    assert all(improving.update(0.98**epoch) for epoch in range(2000))  # 2% per epoch: never a plateau
    assert improving.lr == 1.0
    flat = PlateauSchedule(1.0)
    epochs = 1
    while flat.update(1.0 + 1e-4 / epochs):  # improves, but by far less than 1%
        epochs += 1
    assert flat.stage == PLATEAU_STAGES and np.isclose(flat.lr, 1e-3)
    assert epochs == 3 * 16  # each stage: the last 8 epochs against the 8 before them


def test_training_to_convergence_stops_on_a_plateau():

    from surrogates.train import train

    settings = TrainSettings(method="supervised", epochs=100000, batch=32, width=16, depth=1, lr=1e-2)
    settings.schedule = "plateau"
    result = train(synthetic_dataset(), settings, {})
    assert result.metrics["stop"] == "converged"
    rates = sorted({h["lr"] for h in result.history}, reverse=True)
    assert np.allclose(rates, [1e-2, 1e-3, 1e-4])
    assert result.metrics["epochs"] < 100000


class _LinearPhysics:
    """A stand-in solver: R(w) = w − w_data(s, Re) on the synthetic states, whose solution is the data."""

    def __init__(self, data):
        self.data = data

    def _exact(self, s: np.ndarray) -> np.ndarray:
        return self.data.state[np.argmin(np.sum((self.data.s - s) ** 2, axis=1))]

    def residual(self, s, re, w):
        return w - self._exact(s)

    def jacobian_transpose_product(self, s, re, w, v):
        return v

    def reduced_jacobian(self, s, re, w, basis):
        return basis.T @ basis

    def newton_step(self, s, re, w, damping=None):
        return -self.residual(s, re, w)

    def coefficients(self, s, re, w):
        return np.array([w.mean(), 0.0])

    def solution_from(self, s, re, w):
        return self._exact(s), np.array([1.0, 0.0]), np.zeros_like(s), 1

    def fresh_designs(self, seed, start, n):
        return self.data.s[:n], self.data.re[:n], np.ones(n, dtype=bool)


@pytest.mark.parametrize("name", METHODS)
def test_each_registry_name_builds_a_method_the_loop_needs_not_tell_apart(name):
    """The epoch loop only calls `step`, `validation_loss` and the hooks; what each method is comes from
    its registry entry, and building it refuses a missing solver where the entry says it needs one."""
    import torch

    from surrogates.methods import METHOD_TYPES, VALIDATION_LOSSES, AdamMethod, Context, build_method
    from surrogates.network import DragNet
    from surrogates.pod import fit_pod
    from surrogates.samples import Samples
    from surrogates.train import split_indices

    assert tuple(METHOD_TYPES) == METHODS
    spec = REGISTRY[name]
    data = synthetic_dataset()
    split = split_indices(len(data), 0)
    pod = fit_pod(data.state[split.train], data.weights)
    torch.manual_seed(0)
    net = DragNet(data.s.shape[1], pod.size, width=8, depth=1)
    samples = Samples(data, pod, split.train, "cpu")
    inputs = torch.cat([samples.s, torch.log(samples.re)[:, None]], dim=1)
    net.set_normalisation(inputs[samples.train], torch.cat([samples.y, samples.c], dim=1)[samples.train])
    settings = settings_for(name)
    if spec.needs_physics:
        with pytest.raises(ValueError, match=f"the {name} method needs the solver's physics"):
            build_method(settings, Context(net, pod, samples, data, split.train))
    physics = _LinearPhysics(data)
    method = build_method(settings, Context(net, pod, samples, data, split.train, physics=physics))
    assert method.spec is spec and type(method) is METHOD_TYPES[name]
    assert isinstance(method, AdamMethod) == (spec.update == "adam")
    assert (method.solver is not None) == spec.needs_physics
    assert spec.validation in VALIDATION_LOSSES

    batch = samples.batch(samples.train[: settings.batch])
    before = [p.detach().clone() for p in net.parameters()]
    method.step(batch, settings.lr)
    assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), before, strict=True))
    assert np.isfinite(method.validation_loss(samples.batch(samples.train)))
    assert bool(method.physics_calls()) == spec.needs_physics
