"""Area and centroid of the body exactly as the mesh sees it: a closed chain of quadratic (P2) edges.

With body nodes `X(s) = X₀ + B s`, area and centroid are polynomials in `s`; the 3-point Gauss rule
below integrates them exactly, and their gradients with respect to `s` are exact too. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# 3-point Gauss–Legendre on [0, 1]: exact to degree 5 (the centroid integrand x² y' is quintic in t).
_T = 0.5 + 0.5 * np.array([-np.sqrt(3 / 5), 0.0, np.sqrt(3 / 5)])
_W = np.array([5 / 18, 8 / 18, 5 / 18])
# Quadratic shape functions of an edge (start, end, middle) and their t-derivatives, at _T: (3, 3).
_N = np.stack([(1 - _T) * (1 - 2 * _T), _T * (2 * _T - 1), 4 * _T * (1 - _T)], axis=1)
_DN = np.stack([4 * _T - 3, 4 * _T - 1, 4 - 8 * _T], axis=1)


@dataclass
class DiscreteBody:
    """Body boundary nodes `X(s) = nodes + basis @ s`; edges (start, end, middle), counter-clockwise.

    nodes: (n, 2) reference positions; basis: (n, 2, m) displacement per parameter; edges: (e, 3) int.
    """

    nodes: np.ndarray
    basis: np.ndarray
    edges: np.ndarray

    def positions(self, s: np.ndarray) -> np.ndarray:
        """Node positions for parameters `s`: (n, 2)."""
        return self.nodes + self.basis @ np.asarray(s, dtype=float)

    def area_centroid(self, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Area A, centroid c (2,), and their gradients dA/ds (m,), dc/ds (2, m)."""
        area, centroid, d_area, d_centroid = self.area_centroid_batch(np.asarray(s, dtype=float)[None, :])
        return float(area[0]), centroid[0], d_area[0], d_centroid[0]

    def area_centroid_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Batched: s (b, m) → A (b,), c (b, 2), dA/ds (b, m), dc/ds (b, 2, m)."""
        X = self.nodes[None] + np.einsum("ndm,bm->bnd", self.basis, s)
        x, y = X[:, self.edges, 0], X[:, self.edges, 1]  # (b, e, 3)
        xq, yq = x @ _N.T, y @ _N.T  # (b, e, q) values at the Gauss points
        dxq, dyq = x @ _DN.T, y @ _DN.T  # (b, e, q) t-derivatives
        area = np.sum(_W * xq * dyq, axis=(1, 2))
        moment = np.stack(
            [np.sum(_W * xq**2 * dyq, axis=(1, 2)) / 2, -np.sum(_W * yq**2 * dxq, axis=(1, 2)) / 2], 1
        )

        # Gradients with respect to the edge-local node coordinates: (b, e, 3) each.
        d_area_dx = (_W * dyq) @ _N
        d_area_dy = (_W * xq) @ _DN
        d_mx_dx = (_W * xq * dyq) @ _N
        d_mx_dy = (_W * xq**2 / 2) @ _DN
        d_my_dy = -(_W * yq * dxq) @ _N
        d_my_dx = -(_W * yq**2 / 2) @ _DN

        # Chain rule through X = X₀ + basis s, edge by edge: (3e, m) per coordinate.
        basis_x, basis_y = (self.basis[self.edges, d].reshape(-1, s.shape[1]) for d in (0, 1))

        def to_s(d_dx: np.ndarray, d_dy: np.ndarray) -> np.ndarray:
            return d_dx.reshape(len(s), -1) @ basis_x + d_dy.reshape(len(s), -1) @ basis_y

        d_area = to_s(d_area_dx, d_area_dy)
        d_moment = np.stack([to_s(d_mx_dx, d_mx_dy), to_s(d_my_dx, d_my_dy)], axis=1)
        centroid = moment / area[:, None]
        d_centroid = (d_moment - centroid[:, :, None] * d_area[:, None, :]) / area[:, None, None]
        return area, centroid, d_area, d_centroid


def orient_edges(nodes: np.ndarray, edges: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Flip edges so that each runs counter-clockwise about `center` (star-shaped bodies)."""
    start, end = nodes[edges[:, 0]] - center, nodes[edges[:, 1]] - center
    clockwise = start[:, 0] * end[:, 1] - start[:, 1] * end[:, 0] < 0
    oriented = edges.copy()
    oriented[clockwise, 0], oriented[clockwise, 1] = edges[clockwise, 1], edges[clockwise, 0]
    return oriented
