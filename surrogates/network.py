"""The drag-predicting network `f_θ(s, log Re) → (y, C_D, C_L)` with its normalisation inside."""

from __future__ import annotations

import torch
from torch import nn


class DragNet(nn.Module):
    """MLP on normalised inputs `(s, log Re)` (m + 1); outputs `(y (k), C_D, C_L)` in physical units.

    The normalisation constants are buffers, so they travel with the weights.
    """

    def __init__(self, n_params: int, n_modes: int, width: int = 128, depth: int = 3):
        super().__init__()
        self.n_params, self.n_modes, self.width, self.depth = n_params, n_modes, width, depth
        layers: list[nn.Module] = []
        size = n_params + 1
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.SiLU()]
            size = width
        layers.append(nn.Linear(size, n_modes + 2))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("in_mean", torch.zeros(n_params + 1, dtype=torch.float64))
        self.register_buffer("in_std", torch.ones(n_params + 1, dtype=torch.float64))
        self.register_buffer("out_mean", torch.zeros(n_modes + 2, dtype=torch.float64))
        self.register_buffer("out_std", torch.ones(n_modes + 2, dtype=torch.float64))
        self.double()

    def set_normalisation(self, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        """Mean/std of training inputs (n, m+1) and outputs (n, k+2)."""
        self.in_mean.copy_(inputs.mean(0))
        self.in_std.copy_(inputs.std(0).clamp_min(1e-12))
        self.out_mean.copy_(outputs.mean(0))
        self.out_std.copy_(outputs.std(0).clamp_min(1e-12))

    def normalised(self, s: torch.Tensor, re: torch.Tensor) -> torch.Tensor:
        """Network output in normalised units: (n, k+2)."""
        x = torch.cat([s, torch.log(re)[:, None]], dim=1)
        return self.mlp((x - self.in_mean) / self.in_std)

    def forward(self, s: torch.Tensor, re: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(y (n, k), C_D (n,), C_L (n,)) for shapes s (n, m) and Reynolds numbers re (n,)."""
        out = self.normalised(s, re) * self.out_std + self.out_mean
        return out[:, : self.n_modes], out[:, self.n_modes], out[:, self.n_modes + 1]
