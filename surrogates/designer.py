"""The designer network g_θ(c) → s: the least-drag shape for conditions c in one forward pass.

Conditions c (n, 3) are (Re, area ratio, least chord through the centre in D); the network sees
(ln Re, area ratio, thickness), normalised by buffers that travel with the weights, and returns shape
parameters s (n, m) in physical units. Its answer is projected exactly onto the conditions' constraints
by the caller (the FEM side's design space), so it is always an admissible body.

`DesignerEnsemble` holds a few members trained from different initial weights: their mean is the answer,
their spread the uncertainty from which a gap is predicted (`predicted_gap`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from surrogates.lbfgs import minimise_lbfgs

CONDITIONS = ("re", "area_ratio", "min_thickness")


def features(conditions: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(n, 3) network inputs (ln Re, area ratio, thickness in D) of conditions (n, 3) (Re, area, D)."""
    c = torch.as_tensor(conditions, dtype=torch.float64).reshape(-1, 3)
    return torch.cat([torch.log(c[:, :1]), c[:, 1:]], dim=1)


class DesignerNet(nn.Module):
    """MLP (ln Re, area ratio, thickness) → s (m,), tanh hidden layers, normalisation inside (float64)."""

    def __init__(self, n_params: int, width: int = 48, depth: int = 3):
        super().__init__()
        self.n_params, self.width, self.depth = n_params, width, depth
        layers: list[nn.Module] = []
        size = 3
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.Tanh()]
            size = width
        layers.append(nn.Linear(size, n_params))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("in_mean", torch.zeros(3, dtype=torch.float64))
        self.register_buffer("in_std", torch.ones(3, dtype=torch.float64))
        self.register_buffer("out_mean", torch.zeros(n_params, dtype=torch.float64))
        self.register_buffer("out_std", torch.ones(n_params, dtype=torch.float64))
        self.double()

    def set_normalisation(self, conditions: np.ndarray, shapes: np.ndarray) -> None:
        """Mean/std of the training conditions (n, 3) and shapes (n, m); a constant input (every thickness
        0, say) keeps std 1."""
        x = features(conditions)
        s = torch.as_tensor(shapes, dtype=torch.float64)
        std = x.std(0) if len(x) > 1 else torch.ones(3, dtype=torch.float64)
        self.in_mean.copy_(x.mean(0))
        self.in_std.copy_(torch.where(std > 1e-9, std, torch.ones_like(std)))
        self.out_mean.copy_(s.mean(0))
        self.out_std.copy_((s.std(0) if len(s) > 1 else torch.ones_like(s[0])).clamp_min(1e-3))

    def forward(self, conditions: torch.Tensor) -> torch.Tensor:
        """Shapes s (n, m) before projection, for conditions (n, 3) (Re, area ratio, thickness in D)."""
        x = (features(conditions) - self.in_mean) / self.in_std
        return self.mlp(x) * self.out_std + self.out_mean


def fit(
    net: DesignerNet,
    conditions: np.ndarray,
    targets: np.ndarray,
    iterations: int = 400,
    weight_decay: float = 1e-8,
) -> float:
    """Regress `net` onto target shapes (n, m) at conditions (n, 3) by full-batch L-BFGS from its current
    weights: mean of |g(c) − s|² / m in normalised units, plus `weight_decay` |θ|². Returns the final
    root-mean-square misfit in physical units of s."""
    c = torch.as_tensor(conditions, dtype=torch.float64)
    s = torch.as_tensor(targets, dtype=torch.float64)

    def loss() -> torch.Tensor:
        misfit = ((net(c) - s) / net.out_std).pow(2).mean()
        return misfit + weight_decay * sum(p.pow(2).sum() for p in net.parameters())

    minimise_lbfgs(net.parameters(), loss, iterations)
    with torch.no_grad():
        return float((net(c) - s).pow(2).mean().sqrt())


class DesignerEnsemble:
    """`members` designer networks of one architecture; the answer is their mean, the spread their
    standard deviation. Inputs: conditions (n, 3) (Re, area ratio, thickness in D)."""

    def __init__(self, n_params: int, members: int = 4, width: int = 48, depth: int = 3, seed: int = 0):
        generator = torch.random.fork_rng()
        with generator:
            torch.manual_seed(seed)
            self.nets = [DesignerNet(n_params, width, depth) for _ in range(members)]

    @property
    def n_params(self) -> int:
        """Number of shape parameters m."""
        return self.nets[0].n_params

    def set_normalisation(self, conditions: np.ndarray, shapes: np.ndarray) -> None:
        """Every member's normalisation from the training conditions (n, 3) and shapes (n, m)."""
        for net in self.nets:
            net.set_normalisation(conditions, shapes)

    def fit(self, conditions: np.ndarray, targets: np.ndarray, iterations: int = 400) -> float:
        """Every member regressed onto targets (n, m) (`fit`); the largest member misfit (RMS of s)."""
        return max(fit(net, conditions, targets, iterations) for net in self.nets)

    def members(self, conditions: np.ndarray) -> np.ndarray:
        """Every member's shapes (k, n, m) before projection."""
        with torch.no_grad():
            c = torch.as_tensor(np.asarray(conditions, dtype=float).reshape(-1, 3))
            return np.stack([net(c).numpy() for net in self.nets])

    def __call__(self, conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean shapes (n, m) before projection and the members' standard deviation (n, m)."""
        shapes = self.members(conditions)
        return shapes.mean(0), shapes.std(0, ddof=1) if len(shapes) > 1 else np.zeros_like(shapes[0])

    def state_dicts(self) -> list[dict]:
        """The members' weights and normalisation (for `torch.save`)."""
        return [net.state_dict() for net in self.nets]

    def load_state_dicts(self, states: list[dict]) -> None:
        """Weights and normalisation of every member, as `state_dicts` gave them."""
        if len(states) != len(self.nets):
            raise ValueError(f"{len(states)} members stored, {len(self.nets)} expected")
        for net, state in zip(self.nets, states, strict=True):
            net.load_state_dict(state)


def predicted_gap(spread: np.ndarray, hessian: np.ndarray, objective: float, factor: float) -> float:
    """The gap (C_D(s) − C_D*) / C_D* predicted for an answer whose members spread by `spread` (m,):
    `factor` · ½ δᵀ H δ / J with δ the spread, H (m, m) and J the exact Hessian and objective at the
    nearest training optimum (the quadratic model of the objective about its optimum)."""
    return float(factor * 0.5 * spread @ hessian @ spread / objective)
