"""StepClock: phases exclude each other; physics waited for through TimedPhysics counts as physics."""

import pytest

from surrogates import step_clock
from surrogates.step_clock import StepClock, TimedPhysics


@pytest.fixture
def fake_time(monkeypatch):
    """A clock that advances only when told: `advance(seconds)`."""
    now = [0.0]
    monkeypatch.setattr(step_clock.time, "perf_counter", lambda: now[0])

    def advance(seconds: float) -> None:
        now[0] += seconds

    return advance


class SlowPhysics:
    """A physics whose calls take 2 s (fake) each; batches go through `map_async` of a plain list."""

    def __init__(self, advance):
        self.advance = advance

    def residual(self, x):
        self.advance(2.0)
        return -x


def test_nested_phases_are_exclusive_and_sum_to_the_step(fake_time):
    clock = StepClock()
    physics = TimedPhysics(SlowPhysics(fake_time), clock)
    for _ in range(3):
        with clock.step():
            with clock.phase("network"):
                fake_time(1.0)
                assert physics.residual(3) == -3  # 2 s of physics inside the network phase
                fake_time(0.5)
            with clock.phase("svd"):
                fake_time(0.25)
            with clock.phase("update"):
                fake_time(0.125)
            fake_time(0.0625)  # outside every phase
    medians = clock.medians(skip=1)
    assert medians == {
        "network": 1.5,
        "physics": 2.0,
        "svd": 0.25,
        "update": 0.125,
        "total": 3.9375,
        "other": 0.0625,
    }
    assert len(clock.steps) == 3


def test_batches_count_as_physics_and_nothing_counts_outside_a_step(fake_time):
    clock = StepClock()
    physics = TimedPhysics(SlowPhysics(fake_time), clock)
    with clock.phase("physics"):
        fake_time(5.0)  # before any step: not counted
    with clock.step(), clock.phase("network"):
        pending = physics.map_async("residual", [(1,), (2,)])  # evaluated here: 4 s of physics
        fake_time(1.0)
        assert pending.done() and pending.result() == [-1, -2]
    assert clock.steps == [{"physics": 4.0, "network": 1.0, "total": 5.0}]


def test_a_disabled_clock_records_nothing(fake_time):
    clock = StepClock(enabled=False)
    with clock.step(), clock.phase("network"):
        fake_time(1.0)
    assert clock.steps == [] and clock.medians() == {}
