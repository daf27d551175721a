"""The registry of training methods drives the CLI's choices and each method's tuned defaults."""

from __future__ import annotations

import numpy as np
import pytest

from shapeopt.cli import _parser
from shapeopt.cli.common import options_for
from surrogates.settings import (
    HALF_INVERSE_METHODS,
    METHODS,
    PHYSICS_METHODS,
    REGISTRY,
    TrainSettings,
    settings_for,
)


def _train_settings(*options: str) -> TrainSettings:
    args = _parser().parse_args(["train", "case.toml", "--data", "d.h5", "--out", "s.pt", *options])
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
    assert all(REGISTRY[m].step for m in METHODS)


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
    parser = _parser()
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
    from test_surrogates import synthetic

    from surrogates.train import train

    settings = TrainSettings(method="supervised", epochs=100000, batch=32, width=16, depth=1, lr=1e-2)
    settings.schedule = "plateau"
    result = train(synthetic(), settings, {})
    assert result.metrics["stop"] == "converged"
    rates = sorted({h["lr"] for h in result.history}, reverse=True)
    assert np.allclose(rates, [1e-2, 1e-3, 1e-4])
    assert result.metrics["epochs"] < 100000
