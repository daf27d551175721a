"""The samples a network trains on, on the training device, and which of them the epochs draw from."""

from __future__ import annotations

import numpy as np
import torch

from surrogates.datafile import Dataset
from surrogates.pod import POD

FIELDS = ("s", "re", "y", "c", "dcd")


class Samples:
    """Float64 tensors on `device` for n samples: shapes s (n, m), Reynolds numbers re (n,), POD coefficients
    y (n, k) of the states, force coefficients c (n, 2) = (C_D, C_L) and adjoint gradients dcd (n, m) of
    C_D; `train` (n_train,) the indices the epochs draw batches from (the dataset's training rows, then the
    samples `add` brings)."""

    def __init__(self, data: Dataset, pod: POD, train_rows: np.ndarray, device: str):
        def t(a):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)

        self.device = device
        self.s, self.re = t(data.s), t(data.re)
        self.y = t(pod.project(data.state))
        self.c = torch.stack([t(data.cd), t(data.cl)], dim=1)
        self.dcd = t(data.dcd)
        self.train = torch.as_tensor(train_rows, device=device)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The samples at indices idx (b,): s (b, m), re (b,), y (b, k), c (b, 2), dcd (b, m)."""
        return {name: getattr(self, name)[idx] for name in FIELDS}

    def add(self, samples: dict[str, np.ndarray]) -> None:
        """Append samples (arrays s, re, y, c, dcd as in `batch`) and train on them from the next epoch."""
        first = len(self.s)
        for name, values in samples.items():
            new = torch.as_tensor(values, dtype=torch.float64, device=self.device)
            setattr(self, name, torch.cat([getattr(self, name), new]))
        self.train = torch.cat([self.train, torch.arange(first, len(self.s), device=self.device)])
