"""Proper orthogonal decomposition of states: `w ≈ w̄ + Φ y`, Φ orthonormal in `⟨a, b⟩ = Σ weights·a·b`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class POD:
    """mean (N,), basis (N, k) with Φᵀ diag(weights) Φ = I, singular values (k,), captured energy."""

    mean: np.ndarray
    basis: np.ndarray
    weights: np.ndarray
    singular_values: np.ndarray
    energy: float

    @property
    def size(self) -> int:
        return self.basis.shape[1]

    def project(self, states: np.ndarray) -> np.ndarray:
        """Coefficients y (n, k) of states (n, N)."""
        return (states - self.mean) @ (self.weights[:, None] * self.basis)

    def reconstruct(self, coefficients: np.ndarray) -> np.ndarray:
        """States (n, N) from coefficients (n, k)."""
        return self.mean + coefficients @ self.basis.T


def fit_pod(states: np.ndarray, weights: np.ndarray, energy: float = 0.99999, max_modes: int = 64) -> POD:
    """POD of training states (n, N) keeping the modes that capture `energy` of the fluctuation."""
    mean = states.mean(axis=0)
    root = np.sqrt(weights)
    _, sigma, vt = np.linalg.svd((states - mean) * root, full_matrices=False)
    fractions = np.cumsum(sigma**2) / np.sum(sigma**2)
    k = int(min(max_modes, np.searchsorted(fractions, energy) + 1, len(sigma)))
    basis = vt[:k].T / root[:, None]
    return POD(mean, basis, weights, sigma[:k], float(fractions[k - 1]))
