"""Taylor test of the adjoint shape gradient: `|C(s + hδ) − C(s) − h ∇C·δ|` must fall like h²."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shapeopt.fem.problem import DragProblem


@dataclass
class TaylorResult:
    """Steps h, remainders without (`zeroth`, ~h) and with the gradient (`first`, ~h²), and rates."""

    quantity: str
    steps: list[float]
    zeroth: list[float]
    first: list[float]

    @property
    def rates(self) -> list[float]:
        """Observed convergence rates of the first-order remainder between successive steps."""
        r, h = np.array(self.first), np.array(self.steps)
        return list(np.log(r[:-1] / r[1:]) / np.log(h[:-1] / h[1:]))

    @property
    def min_rate(self) -> float:
        """Smallest observed rate (≥ 1.9 passes)."""
        return float(min(self.rates))


GRADIENTS = {"objective": "gradient", "lift": "lift_gradient"}  # the Evaluation field of each one's gradient


def taylor_test(
    problem: DragProblem,
    s: np.ndarray,
    quantity: str = "objective",
    seed: int = 0,
    first_step: float = 1e-2,
    n_steps: int = 4,
) -> TaylorResult:
    """Taylor test of d`quantity`/ds at `s` in a seeded random unit direction; steps halve. `quantity`:
    "objective" (the case's J) or "lift" (the C_L of its bodies)."""
    direction = np.random.default_rng(seed).standard_normal(problem.size)
    direction /= np.linalg.norm(direction)
    base = problem.evaluate(s, gradient=True)
    value, slope = getattr(base, quantity), getattr(base, GRADIENTS[quantity]) @ direction
    steps = [first_step / 2**k for k in range(n_steps)]
    zeroth, first = [], []
    for h in steps:
        moved = getattr(problem.evaluate(s + h * direction), quantity)
        zeroth.append(abs(moved - value))
        first.append(abs(moved - value - h * slope))
    problem.evaluate(s)  # leave the problem at the base shape
    return TaylorResult(quantity, steps, zeroth, first)
