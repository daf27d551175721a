"""Where a training step's time goes: wall seconds per phase of each step, phases exclusive of each other.

Phases: `network` (forward, backward, network Jacobians), `physics` (waiting for the solver's processes:
sending a batch and collecting its results), `svd` (the Gram matrix and its eigen-decomposition) and
`update` (applying Δθ, or the optimiser's step). A phase opened inside another pauses the outer one, so
physics waited for inside a backward pass counts as physics, not network. CUDA work is synchronised at
each phase boundary, so the seconds belong to the phase that launched the work.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

PHASES = ("network", "physics", "svd", "update")


class StepClock:
    """Per-step phase seconds: open a step with `step()`, time its parts with `phase(name)`; a clock that
    is not `enabled` times nothing (and synchronises nothing)."""

    def __init__(self, cuda: bool = False, enabled: bool = True):
        self.cuda, self.enabled = cuda, enabled
        self.steps: list[dict[str, float]] = []
        self._in_step = False
        self._open: list[tuple[str, float]] = []  # the phase stack: (name, start of its current stretch)

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def _add(self, name: str, seconds: float) -> None:
        if self._in_step:
            self.steps[-1][name] = self.steps[-1].get(name, 0.0) + seconds

    @contextmanager
    def step(self) -> Iterator[None]:
        """One training step; its wall time is kept as `total`. Phases outside a step are not counted."""
        if not self.enabled:
            yield
            return
        self.steps.append({})
        self._in_step, start = True, self._now()
        try:
            yield
        finally:
            self.steps[-1]["total"] = self._now() - start
            self._in_step = False

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase `name` (one of PHASES), pausing the phase it is nested in."""
        if not self.enabled:
            yield
            return
        now = self._now()
        if self._open:
            outer, since = self._open[-1]
            self._add(outer, now - since)
        self._open.append((name, now))
        try:
            yield
        finally:
            now = self._now()
            _, since = self._open.pop()
            self._add(name, now - since)
            if self._open:
                self._open[-1] = (self._open[-1][0], now)

    def medians(self, skip: int = 0) -> dict[str, float]:
        """Median seconds per step of each phase and of the whole step (`total`, `other` what no phase
        holds), over the steps after the first `skip` (warm-up)."""
        steps = self.steps[skip:] or self.steps
        if not steps:
            return {}
        out = {name: float(np.median([s.get(name, 0.0) for s in steps])) for name in (*PHASES, "total")}
        out["other"] = float(np.median([s["total"] - sum(s.get(n, 0.0) for n in PHASES) for s in steps]))
        return out


class TimedPhysics:
    """A physics whose batch calls count as the clock's `physics` phase (sending, and waiting for results)."""

    def __init__(self, physics: Any, clock: StepClock):
        self.physics, self.clock = physics, clock

    def map_async(self, name: str, calls: Sequence[tuple[Any, ...]]) -> _TimedPending:
        from surrogates.physics import start_batch

        with self.clock.phase("physics"):
            return _TimedPending(start_batch(self.physics, name, calls), self.clock)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.physics, name)

        def timed(*args):
            with self.clock.phase("physics"):
                return method(*args)

        return timed


class _TimedPending:
    def __init__(self, pending: Any, clock: StepClock):
        self.pending, self.clock = pending, clock

    def done(self) -> bool:
        return self.pending.done()

    def result(self) -> list:
        with self.clock.phase("physics"):
            return self.pending.result()
