"""The radial mesh map's weight: how a body's displacement fades to 0 at the map radius R.

A point at distance r from the body's centre moves with the body's boundary by the fraction w(r)
(`fem.morph.MeshMorph`); the map is one-to-one for every star-shaped body reaching less far than
`RadialMap.max_body_radius`. Pure numpy; lengths in the case's unit.
"""

from __future__ import annotations

import numpy as np


class RadialMap:
    """Weight w(r) = (1 − t)² (1 + 2t), t = (r − r₀)/(R − r₀) clipped to [0, 1]: w(r₀) = 1, w(R) = 0, and
    w' = 0 at both ends (the near-body cell layer keeps its thickness)."""

    def __init__(self, r0: float, radius: float):
        if not radius > r0:
            raise ValueError(f"map radius {radius} must exceed the reference radius {r0}")
        self.r0, self.radius = r0, radius

    def weight(self, r: np.ndarray, inner: np.ndarray | None = None) -> np.ndarray:
        """w at radii r (n,). `inner` (n,): the radius of the body the mesh fits in each point's direction
        (a mesh generated for a shape other than the circle), where w is 1; default r₀."""
        inner = self.r0 if inner is None else np.asarray(inner)
        t = np.clip((np.asarray(r) - inner) / (self.radius - inner), 0.0, 1.0)
        return (1 - t) ** 2 * (1 + 2 * t)

    @property
    def max_body_radius(self) -> float:
        """How far from its centre a body may reach and the map stay one-to-one: bodies reaching less far
        keep ∂ρ/∂r ≥ 1/4 (max |w'| = 1.5 / (R − r₀))."""
        return float(self.reach(np.asarray(self.r0)))

    def reach(self, inner: np.ndarray) -> np.ndarray:
        """How far from the centre a body may reach, direction by direction, on a mesh that fits the body
        of radius `inner` (n,) in those directions (the circle r₀, or a shape the mesh was generated
        for): inner + ½ (R − inner), which keeps ∂ρ/∂r ≥ 1/4 (max |w'| = 1.5 / (R − inner))."""
        inner = np.asarray(inner, dtype=float)
        return inner + 0.5 * (self.radius - inner)
