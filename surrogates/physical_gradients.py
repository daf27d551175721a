"""Physical gradients (SIP): targets from the solver's local inverse applied to the network's prediction.

From the predicted state `w = w̄ + Φ y`, `steps` Newton steps `Δw = −J⁻¹R` (each damped by the solver when
the full step would raise |R|), scaled by `step_size`, give `w̃`. The targets are `ỹ`, the POD projection
of `w̃`, and `c̃ = (C_D, C_L)(w̃)`; Adam then minimises the proxy loss `½|y − sg(ỹ)|² + β|c − sg(c̃)|²`.

On designs no dataset holds (`pg-fresh`), the local inverse is iterated to convergence from the network's
state, and the corrected state, its coefficients and its adjoint gradient are the targets (`FreshDesigns`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from surrogates.physics import Physics, run_batch, start_batch
from surrogates.pod import POD


@dataclass
class NewtonTargets:
    """Targets for a batch of B samples: POD coefficients y (B, k), coefficients c (B, 2), states (B, N)."""

    y: np.ndarray
    c: np.ndarray
    states: np.ndarray


def newton_targets(
    y: np.ndarray,
    s: np.ndarray,
    re: np.ndarray,
    physics: Physics,
    pod: POD,
    steps: int = 1,
    step_size: float = 1.0,
) -> NewtonTargets:
    """Targets from predictions y (B, k) of shapes s (B, m) at Reynolds numbers re (B,)."""
    states = pod.reconstruct(y)
    for _ in range(steps):
        deltas = run_batch(physics, "newton_step", [(s[i], re[i], states[i]) for i in range(len(y))])
        states = states + step_size * np.stack(deltas)
    coefficients = run_batch(physics, "coefficients", [(s[i], re[i], states[i]) for i in range(len(y))])
    return NewtonTargets(pod.project(states), np.stack(coefficients), states)


class FreshDesigns:
    """PG on designs no dataset holds: batches of the dataset's design sequence continued past its last
    row, each solved by the solver from the network's predicted state (Newton's initial guess). The
    solutions with their adjoint gradients are new training samples. The solves run in the solver's
    processes while the network trains (`ready`, then `collect`)."""

    def __init__(self, physics: Physics, pod: POD, seed: int, start: int, batch: int):
        self.physics, self.pod, self.seed, self.next, self.batch = physics, pod, seed, start, batch
        self.pending = None
        self.iterations: list[list[int]] = []  # per batch: Newton iterations from the network's guess
        self.failed = 0

    def launch(self, net: torch.nn.Module) -> None:
        """Draw the next batch of designs and start solving them from the network's prediction."""
        (drawn,) = run_batch(self.physics, "fresh_designs", [(self.seed, self.next, self.batch)])
        self.next += self.batch
        s, re, admissible = drawn
        self.failed += int(np.sum(~admissible))
        self.s, self.re = s[admissible], re[admissible]
        as_tensor = {"dtype": torch.float64, "device": next(net.parameters()).device}
        with torch.no_grad():
            y = net(torch.as_tensor(self.s, **as_tensor), torch.as_tensor(self.re, **as_tensor))[0]
        states = self.pod.reconstruct(y.cpu().numpy())
        calls = [(self.s[i], self.re[i], states[i]) for i in range(len(self.s))]
        self.pending = start_batch(self.physics, "solution_from", calls)

    def ready(self) -> bool:
        """Whether the batch in flight has been solved."""
        return self.pending is not None and self.pending.done()

    def collect(self) -> dict[str, np.ndarray]:
        """The solved batch as samples: s (b, m), re (b,), y (b, k), c (b, 2), dcd (b, m)."""
        solved = [(i, result) for i, result in enumerate(self.pending.result()) if result is not None]
        self.pending = None
        self.failed += len(self.s) - len(solved)
        self.iterations.append([result[3] for _, result in solved])
        index = [i for i, _ in solved]
        return {
            "s": self.s[index],
            "re": self.re[index],
            "y": self.pod.project(np.stack([r[0] for _, r in solved]))
            if solved
            else np.zeros((0, self.pod.size)),
            "c": np.array([r[1] for _, r in solved]).reshape(-1, 2),
            "dcd": np.array([r[2] for _, r in solved]).reshape(len(solved), -1),
        }

    @property
    def solved(self) -> int:
        """Fresh designs solved so far."""
        return sum(len(batch) for batch in self.iterations)
