"""The `Physics` protocol: what a solver offers to training methods that put it in the loop.

States `w` are (N,) float64 arrays on the solver's reference DOF layout that carry the Dirichlet values
(as `w̄ + Φ y` from POD of solutions does); `s` (m,) shape parameters, `re` the Reynolds number.
`surrogates/` only sees this protocol; `shapeopt.physics` implements it with the finite-element solver.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Physics(Protocol):
    """Residual, Jacobian products, local inverse and drag of a discrete steady flow problem."""

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

    def newton_step(self, s: np.ndarray, re: float, w: np.ndarray, damping: float = 1.0) -> np.ndarray:
        """Local inverse: Δw = −damping · J(w)⁻¹ R(w): (N,)."""

    def drag(self, s: np.ndarray, re: float, w: np.ndarray) -> float:
        """C_D of the state w (weak-residual force)."""
