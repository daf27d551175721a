"""The `Physics` protocol: what a solver offers to training methods that put it in the loop.

States `w` are (N,) float64 arrays on the solver's reference DOF layout that carry the Dirichlet values
(as `w̄ + Φ y` from POD of solutions does); `s` (m,) shape parameters, `re` the Reynolds number.
`surrogates/` only sees this protocol; `shapeopt.fem.physics` implements it with the finite-element solver.
A physics object may also offer `map_async(name, calls)` to run a batch of calls in parallel processes;
`run_batch` and `start_batch` use it when present.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class Physics(Protocol):
    """Residual, Jacobian products, local inverse and force coefficients of a discrete steady flow."""

    def residual(self, s: np.ndarray, re: float, w: np.ndarray) -> np.ndarray:
        """R(w; s, Re): (N,), zero at a solution (boundary rows hold w − g)."""

    def jacobian_product(self, s: np.ndarray, re: float, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        """J(w) v with J = ∂R/∂w: (N,)."""

    def jacobian_transpose_product(
        self, s: np.ndarray, re: float, w: np.ndarray, v: np.ndarray
    ) -> np.ndarray:
        """J(w)ᵀ v (the adjoint's operator): (N,)."""

    def reduced_jacobian(self, s: np.ndarray, re: float, w: np.ndarray, basis: np.ndarray) -> np.ndarray:
        """Φᵀ J(w) Φ for a basis Φ (N, k): (k, k)."""

    def newton_step(
        self, s: np.ndarray, re: float, w: np.ndarray, damping: float | None = None
    ) -> np.ndarray:
        """Local inverse: Δw = −α J(w)⁻¹ R(w): (N,); α = damping, or (None) the first of 1, ½, ¼, …
        that lowers |R|."""

    def coefficients(self, s: np.ndarray, re: float, w: np.ndarray) -> np.ndarray:
        """(C_D, C_L) of the state w (weak-residual force): (2,)."""

    def solution_from(
        self, s: np.ndarray, re: float, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """Newton from the guess w to the solution: its state (N,), (C_D, C_L), adjoint dC_D/ds (m,) and
        the iterations from w (−1 where w was no use); None where the shape has no solution here."""

    def fresh_designs(self, seed: int, start: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Designs start … start + n − 1 of the dataset design sequence of `seed`: s (n, m), Re (n,) and
        the admissible mask (n,)."""


class _Done:
    def __init__(self, value: list):
        self.value = value

    def done(self) -> bool:
        return True

    def result(self) -> list:
        return self.value


def start_batch(physics: Physics, name: str, calls: Sequence[tuple[Any, ...]]):
    """Start `physics.<name>(*call)` for every call; `.result()` gives the list of results in order,
    `.done()` says whether they are in.

    Parallel when the physics offers `map_async`, else evaluated here and now.
    """
    if hasattr(physics, "map_async"):
        return physics.map_async(name, calls)
    method = getattr(physics, name)
    return _Done([method(*call) for call in calls])


def run_batch(physics: Physics, name: str, calls: Sequence[tuple[Any, ...]]) -> list:
    """`physics.<name>(*call)` for every call, in order (in parallel where the physics can)."""
    return start_batch(physics, name, calls).result()


class CountedPhysics:
    """Wraps a physics and counts the calls by name (one per sample), e.g. for benchmarks."""

    def __init__(self, physics: Physics):
        self.physics = physics
        self.calls: dict[str, int] = {}

    def map_async(self, name: str, calls: Sequence[tuple[Any, ...]]):
        self.calls[name] = self.calls.get(name, 0) + len(calls)
        return start_batch(self.physics, name, calls)

    def __getattr__(self, name: str):
        method = getattr(self.physics, name)

        def counted(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args)

        return counted

    @property
    def total(self) -> int:
        return sum(self.calls.values())
