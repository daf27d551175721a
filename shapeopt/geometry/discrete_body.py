"""Area and centroid of the body exactly as the mesh sees it: a closed chain of quadratic (P2) edges.

With body nodes `X(s) = X₀ + B s`, the area is a quadratic and the first moments are cubic polynomials in
`s`. Their coefficients are integrated once, exactly, with a 3-point Gauss rule per edge; evaluating them
and their gradients for a batch of designs then costs O(m³) per design, whatever the number of edges.
Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# 3-point Gauss–Legendre on [0, 1]: exact to degree 5 (the centroid integrand x² y' is quintic in t).
_T = 0.5 + 0.5 * np.array([-np.sqrt(3 / 5), 0.0, np.sqrt(3 / 5)])
_W = np.array([5 / 18, 8 / 18, 5 / 18])
# Quadratic shape functions of an edge (start, end, middle) and their t-derivatives, at _T: (3, 3).
_N = np.stack([(1 - _T) * (1 - 2 * _T), _T * (2 * _T - 1), 4 * _T * (1 - _T)], axis=1)
_DN = np.stack([4 * _T - 3, 4 * _T - 1, 4 - 8 * _T], axis=1)


@dataclass(frozen=True)
class Cubic:
    """p(s) = k0 + k1·s + sᵀ k2 s + k3[s, s, s] with symmetric k2 (m, m) and k3 (m, m, m)."""

    k0: float
    k1: np.ndarray
    k2: np.ndarray
    k3: np.ndarray

    @classmethod
    def of_product(cls, weights: np.ndarray, *factors: tuple[np.ndarray, np.ndarray]) -> Cubic:
        """Σ_p w_p Π_f (a_f,p + A_f,p · s) for two or three factors (a (P,), A (P, m)) given per point p."""
        (a, da), (b, db) = factors[:2]
        c, dc = factors[2] if len(factors) == 3 else (np.ones_like(a), np.zeros_like(da))
        w = weights
        k1 = (w * b * c) @ da + (w * a * c) @ db + (w * a * b) @ dc
        k2 = (
            np.einsum("p,pi,pj->ij", w * a, db, dc)
            + np.einsum("p,pi,pj->ij", w * b, da, dc)
            + np.einsum("p,pi,pj->ij", w * c, da, db)
        )
        k3 = np.einsum("p,pi,pj,pk->ijk", w, da, db, dc)
        k3 = sum(
            k3.transpose(order)
            for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
        )
        return cls(float(np.sum(w * a * b * c)), k1, (k2 + k2.T) / 2, k3 / 6)

    def __call__(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (b,) and gradients (b, m) at designs s (b, m)."""
        m = len(self.k1)
        quadratic = (s @ self.k3.reshape(m * m, m).T).reshape(len(s), m, m)  # k3[s] as (b, m, m), by GEMM
        cubic = (quadratic @ s[:, :, None])[:, :, 0]  # k3[s, s] as (b, m)
        gradient = self.k1 + s @ (2 * self.k2) + 3 * cubic
        value = self.k0 + s @ self.k1 + np.sum((s @ self.k2) * s, axis=1) + np.sum(cubic * s, axis=1)
        return value, gradient


@dataclass(frozen=True)
class GaussProduct:
    """p(s) = Σ_p w_p Π_f (a_f,p + A_f,p · s): a product of linear factors integrated at Gauss points,
    evaluated point by point (any degree; O(P m) per design for P points, where `Cubic` stores tensors)."""

    weights: np.ndarray
    factors: tuple[tuple[np.ndarray, np.ndarray], ...]  # (a (P,), A (P, m)) per factor

    def __call__(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (b,) and gradients (b, m) at designs s (b, m)."""
        values = [a[None, :] + s @ slope.T for a, slope in self.factors]  # (b, P) each
        product = np.prod(values, axis=0)
        gradient = sum(
            (self.weights * np.prod([v for g, v in enumerate(values) if g != f], axis=0)) @ slope
            for f, (_, slope) in enumerate(self.factors)
        )
        return product @ self.weights, gradient


@dataclass
class DiscreteBody:
    """Body boundary nodes `X(s) = nodes + basis @ s`; edges (start, end, middle), counter-clockwise.

    nodes: (n, 2) reference positions; basis: (n, 2, m) displacement per parameter; edges: (e, 3) int.
    """

    nodes: np.ndarray
    basis: np.ndarray
    edges: np.ndarray
    _area: Cubic = field(init=False, repr=False)
    _moments: tuple[Cubic, Cubic] = field(init=False, repr=False)

    def __post_init__(self):
        m = self.basis.shape[2]

        def at_gauss_points(d: int, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Coordinate d (or its t-derivative) at every edge's Gauss points: (P,), (P, m), P = 3e."""
            value = self.nodes[self.edges, d] @ shape.T
            slope = np.einsum("qn,enm->eqm", shape, self.basis[self.edges, d])
            return value.ravel(), slope.reshape(-1, m)

        w = np.tile(_W, len(self.edges))
        x, y = at_gauss_points(0, _N), at_gauss_points(1, _N)
        dx, dy = at_gauss_points(0, _DN), at_gauss_points(1, _DN)
        self._area = Cubic.of_product(w, x, dy)  # A = ∮ x dy
        self._moments = (Cubic.of_product(w / 2, x, x, dy), Cubic.of_product(-w / 2, y, y, dx))
        # ∫∫ x y dA = ∮ −x y²/2 dx, quartic: the axial moment of the solid of revolution about the x axis
        self._axial_moment = GaussProduct(-w / 2, (x, y, y, dx))

    def positions(self, s: np.ndarray) -> np.ndarray:
        """Node positions for parameters `s`: (n, 2)."""
        return self.nodes + self.basis @ np.asarray(s, dtype=float)

    def area_centroid(self, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Area A, centroid c (2,), and their gradients dA/ds (m,), dc/ds (2, m)."""
        area, centroid, d_area, d_centroid = self.area_centroid_batch(np.asarray(s, dtype=float)[None, :])
        return float(area[0]), centroid[0], d_area[0], d_centroid[0]

    def area_centroid_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Batched: s (b, m) → A (b,), c (b, 2), dA/ds (b, m), dc/ds (b, 2, m)."""
        s = np.asarray(s, dtype=float)
        area, d_area = self._area(s)
        (mx, d_mx), (my, d_my) = (moment(s) for moment in self._moments)
        moment, d_moment = np.stack([mx, my], axis=1), np.stack([d_mx, d_my], axis=1)
        centroid = moment / area[:, None]
        d_centroid = (d_moment - centroid[:, :, None] * d_area[:, None, :]) / area[:, None, None]
        return area, centroid, d_area, d_centroid

    def revolution_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For the profile (y ≥ 0, closed by the axis, where the integrands vanish) of a body of revolution
        about the x axis: its volume over 2π, ∫∫ y dA (b,), the solid's axial centroid
        ∫∫ x y dA / ∫∫ y dA (b,), and their gradients (b, m) at designs s (b, m)."""
        s = np.asarray(s, dtype=float)
        moment, d_moment = self._moments[1](s)
        axial, d_axial = self._axial_moment(s)
        centroid = axial / moment
        return moment, centroid, d_moment, (d_axial - centroid[:, None] * d_moment) / moment[:, None]


def orient_edges(nodes: np.ndarray, edges: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Flip edges so that each runs counter-clockwise about `center` (star-shaped bodies)."""
    start, end = nodes[edges[:, 0]] - center, nodes[edges[:, 1]] - center
    clockwise = start[:, 0] * end[:, 1] - start[:, 1] * end[:, 0] < 0
    oriented = edges.copy()
    oriented[clockwise, 0], oriented[clockwise, 1] = edges[clockwise, 1], edges[clockwise, 0]
    return oriented
