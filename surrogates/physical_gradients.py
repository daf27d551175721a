"""Physical gradients (SIP): targets from the solver's local inverse applied to the network's prediction.

From the predicted state `w = w̄ + Φ y`, `steps` Newton steps `Δw = −J⁻¹R` (each damped by the solver when
the full step would raise |R|), scaled by `step_size`, give `w̃`. The targets are `ỹ`, the POD projection
of `w̃`, and `c̃ = (C_D, C_L)(w̃)`; Adam then minimises the proxy loss `½|y − sg(ỹ)|² + β|c − sg(c̃)|²`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrogates.physics import Physics, run_batch
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
