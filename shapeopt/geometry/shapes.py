"""Shape parametrisations: the body radius `r(θ) = r₀ (1 + Σ_i s_i φ_i(θ))` about a fixed centre.

Two bases: `fourier` (`φ = 1, cos θ, …, cos Kθ, sin θ, …, sin Kθ`, so `s = (a_0..a_K, b_1..b_K)`) and
`bspline` (periodic cubic B-splines on `m` knots uniform in t = atan2(σ sin θ, cos θ); the knot stretch
σ = 1 gives knots uniform in θ, σ > 1 gathers them at θ = 0 and π, where a body slender along the flow
turns: its tips). Both contain the uniform dilation
(`a_0`; the B-splines sum to one), without which no non-circular shape could keep the circle's area.
Both are linear in `s`, so a boundary displacement, and with it the morphed mesh, is linear in `s`.
Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAMETRISATIONS = ("fourier", "bspline")
SMOOTH_AMPLITUDE = 1.5  # smooth designs: |a_k|, |b_k| ≤ SMOOTH_AMPLITUDE / k relative to r₀


@dataclass(frozen=True)
class RadialShape:
    """Star-shaped body about `center`; `r0` is the reference circle's radius (lengths in D); `stretch`
    the B-splines' knot stretch σ (1: knots uniform in θ). `revolution`: the meridional profile of a body
    of revolution, so only bodies mirror-symmetric about the horizontal line through the centre,
    r(−θ) = r(θ): the parameters are those of the symmetric combinations `symmetric_basis` (Fourier:
    a_0..a_K; B-splines: c_0, c_j = c_{m−j} for j < m/2, c_{m/2})."""

    kind: str = "fourier"
    modes: int = 4
    r0: float = 0.5
    center: tuple[float, float] = (0.0, 0.0)
    stretch: float = 1.0
    revolution: bool = False

    def __post_init__(self):
        if self.kind not in PARAMETRISATIONS:
            raise ValueError(
                f"unknown parametrisation '{self.kind}' (expected {', '.join(PARAMETRISATIONS)})"
            )
        if not self.stretch > 0 or (self.kind == "fourier" and self.stretch != 1.0):
            raise ValueError(f"knot stretch {self.stretch} must be > 0, and 1 for the fourier form")

    @property
    def size(self) -> int:
        """Number of shape parameters m."""
        return self.symmetric_basis.shape[1]

    @property
    def full_size(self) -> int:
        """Number of coefficients of the full (not only symmetric) basis."""
        return 2 * self.modes + 1 if self.kind == "fourier" else self.modes

    @property
    def symmetric_basis(self) -> np.ndarray:
        """(full_size, size): the full coefficients of each parameter (the identity unless `revolution`)."""
        n = self.full_size
        if not self.revolution:
            return np.eye(n)
        if self.kind == "fourier":
            return np.eye(n)[:, : self.modes + 1]
        half = self.modes // 2
        columns = [np.eye(n)[0]] + [np.eye(n)[j] + np.eye(n)[n - j] for j in range(1, half)]
        return np.array([*columns, np.eye(n)[half]]).T

    def names(self) -> list[str]:
        """Parameter names, in order."""
        if self.kind == "fourier":
            names = [f"a{k}" for k in range(self.modes + 1)] + [f"b{k}" for k in range(1, self.modes + 1)]
        else:
            names = [f"c{j}" for j in range(self.modes)]
        return names[: self.size]  # revolution: a_0..a_K, or c_0..c_{m/2} (c_j standing for c_{m−j} too)

    def scales(self) -> np.ndarray:
        """Relative size of each parameter's admissible range: 1/k for Fourier mode k, 1 for B-splines."""
        if self.kind == "fourier":
            k = np.arange(1, self.modes + 1, dtype=float)
            return np.concatenate([[1.0], 1.0 / k, 1.0 / k])[: self.size]
        return np.ones(self.size)

    @property
    def smooth_harmonics(self) -> int:
        """K of the smooth designs: the harmonics up to which the basis is close to exact (B-splines on m
        knots: m/4 samples per wavelength at K = m/4; Fourier: all)."""
        return self.modes if self.kind == "fourier" else max(2, self.modes // 4)

    def smooth_designs(self, unit: np.ndarray) -> np.ndarray:
        """Designs s (n, m) whose radius is a smooth Fourier body: unit (n, ≥ 2K − 2) in [0, 1) sets
        a_k, b_k ∈ ±SMOOTH_AMPLITUDE / k for k = 2..K (K = `smooth_harmonics`), fitted to this basis by
        least squares. Mean radius and centroid (k = 0, 1) are left to the constraints."""
        harmonics = self.smooth_harmonics
        k = np.arange(2, harmonics + 1, dtype=float)
        scale = SMOOTH_AMPLITUDE / np.concatenate([k, k])
        amplitudes = (2.0 * np.asarray(unit, dtype=float)[:, : 2 * len(k)] - 1.0) * scale
        theta = np.linspace(0.0, 2 * np.pi, 8 * max(self.size, 2 * harmonics), endpoint=False)
        body = np.hstack([np.cos(np.outer(theta, k)), np.sin(np.outer(theta, k))])
        fit, *_ = np.linalg.lstsq(self.basis(theta), body, rcond=None)  # (m, 2K − 2)
        return amplitudes @ fit.T

    def radius_ratio_bound(self, bound: float) -> float:
        """An upper bound of max_θ |r(θ)/r₀ − 1| over the box |s_i| ≤ bound·scale_i (B-splines: a partition
        of unity; Fourier: the sum of the amplitudes)."""
        return bound * (float(np.sum(self.scales())) if self.kind == "fourier" else 1.0)

    def area_ratio_range(self, bound: float) -> tuple[float, float]:
        """Outer bounds of the area ratio A/(π r₀²) over the box: a target outside them is unreachable.

        Fourier: A/(π r₀²) = (1 + a₀)² + ½ Σ (a_k² + b_k²) exactly; B-splines: (1 ± bound)² bound r/r₀."""
        low = max(1.0 - bound, 0.0) ** 2
        if self.kind == "fourier":
            k = np.arange(1, self.modes + 1, dtype=float)
            return low, (1.0 + bound) ** 2 + bound**2 * float(np.sum(1.0 / k**2))
        return low, (1.0 + bound) ** 2

    def mirror(self) -> np.ndarray:
        """(m, m) involution R with r(−θ; s) = r(θ; R s): the body mirrored about the horizontal line
        through its centre (Fourier: b_k → −b_k; B-splines: knot j ↔ knot −j)."""
        if self.revolution:
            return np.eye(self.size)
        if self.kind == "fourier":
            return np.diag(np.concatenate([np.ones(self.modes + 1), -np.ones(self.modes)]))
        return np.eye(self.modes)[-np.arange(self.modes) % self.modes]

    def basis(self, theta: np.ndarray) -> np.ndarray:
        """φ_i(θ): (len(theta), m)."""
        full = self._full_basis(np.asarray(theta, dtype=float))
        return full @ self.symmetric_basis if self.revolution else full

    def _full_basis(self, theta: np.ndarray) -> np.ndarray:
        """The full basis at θ: (len(theta), full_size)."""
        if self.kind == "fourier":
            k = np.arange(1, self.modes + 1)
            return np.hstack(
                [np.ones((len(theta), 1)), np.cos(np.outer(theta, k)), np.sin(np.outer(theta, k))]
            )
        # Periodic uniform cubic B-splines in t, knot spacing 2π/m; t(θ) is odd about 0 and π (mirror).
        t = theta if self.stretch == 1.0 else np.arctan2(self.stretch * np.sin(theta), np.cos(theta))
        u = np.mod(t, 2 * np.pi)[:, None] / (2 * np.pi) * self.modes - np.arange(self.modes)[None, :]
        u = np.mod(u + 2.0, self.modes) - 2.0  # distance to each knot, wrapped into [-2, m-2)
        a = np.abs(u)
        return np.where(a < 1, 2 / 3 - a**2 + a**3 / 2, np.where(a < 2, (2 - a) ** 3 / 6, 0.0))

    def radius(self, theta: np.ndarray, s: np.ndarray) -> np.ndarray:
        """r(θ; s): (len(theta),)."""
        return self.r0 * (1.0 + self.basis(theta) @ np.asarray(s, dtype=float))

    def outline_at(self, theta: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Points (len(theta), 2) of the body at angles θ."""
        r = self.radius(theta, s)
        return np.column_stack([self.center[0] + r * np.cos(theta), self.center[1] + r * np.sin(theta)])

    def outline(self, s: np.ndarray, n: int = 400) -> np.ndarray:
        """Closed boundary polygon of the exact parametrised curve: (n+1, 2)."""
        return self.outline_at(np.linspace(0.0, 2 * np.pi, n + 1), s)

    def displacement_basis(self, points: np.ndarray) -> np.ndarray:
        """Boundary displacement per parameter of points on the reference circle: (n, 2, m).

        A point at angle θ moves radially by `r₀ φ_i(θ)`, so it stays on the curve `r(θ; s)`.
        """
        offset = np.asarray(points, dtype=float)[:, :2] - np.asarray(self.center)
        theta = np.arctan2(offset[:, 1], offset[:, 0])
        direction = np.column_stack([np.cos(theta), np.sin(theta)])
        return self.r0 * direction[:, :, None] * self.basis(theta)[:, None, :]

    def radius_ratio_range(self, s: np.ndarray, n: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Least and greatest r/r₀ of designs s (b, m) on `n` angles: two (b,) arrays."""
        ratio = 1.0 + np.atleast_2d(s) @ self.basis(np.linspace(0.0, 2 * np.pi, n, endpoint=False)).T
        return ratio.min(axis=1), ratio.max(axis=1)

    def max_radius_ratio(self, s: np.ndarray, n: int = 2048) -> float:
        """max_θ r(θ; s) / r₀ on `n` angles."""
        return float(np.max(self.radius(np.linspace(0.0, 2 * np.pi, n, endpoint=False), s)) / self.r0)

    def min_radius_ratio(self, s: np.ndarray, n: int = 2048) -> float:
        """min_θ r(θ; s) / r₀; a star-shaped curve is simple (no self-intersection) iff this is > 0."""
        return float(np.min(self.radius(np.linspace(0.0, 2 * np.pi, n, endpoint=False), s)) / self.r0)
