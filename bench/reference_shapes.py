"""Reference shapes and a measure of outlines for the benches and tests: a lens (sharp tips), the
parameters of a radial shape that fit a given r(θ), and the count of a flank's curvature sign changes
(ripples). Lengths in D (the reference circle has D = 1).

Benches import it as `reference_shapes` (run as `python bench/NAME.py`, their folder is on the path),
tests as `bench.reference_shapes`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shapeopt.geometry.shapes import RadialShape


def lens_radius(theta: np.ndarray, aspect: float, area: float = np.pi / 4) -> np.ndarray:
    """r(θ) (n,) of a symmetric lens (two equal circular arcs) about its centre: chord along the flow,
    length/height `aspect`, the given area. Sharp tips of half-angle atan(c/d), c the half-chord and d
    the arcs' centre offset."""
    c, h = aspect, 1.0  # half-chord and half-thickness before scaling
    d = (c**2 - h**2) / (2 * h)  # offset of each arc's centre from the chord
    radius = d + h
    unit_area = 2 * (radius**2 * np.arcsin(c / radius) - d * c)
    scale = np.sqrt(area / unit_area)
    sin = np.abs(np.sin(theta))
    return scale * (np.sqrt(d**2 * sin**2 + c**2) - d * sin)


def fit_radial(shape: RadialShape, radius: Callable[[np.ndarray], np.ndarray], n: int = 4000) -> np.ndarray:
    """Parameters s (m,) whose outline r₀ (1 + φ(θ)·s) best fits r(θ) = `radius(θ)` in least squares."""
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    s, *_ = np.linalg.lstsq(shape.basis(theta), radius(theta) / shape.r0 - 1, rcond=None)
    return s


def flank_inflections(points: np.ndarray, middle: float = 0.7) -> int:
    """Sign changes of the curvature of a closed outline (n, 2) (ordered, flow along +x) on the middle
    `middle` of its length, upper and lower flanks counted together: 0 for an ellipse or a lens, more
    for a rippled flank. Curvature by central differences of the ordered points; points where it is
    below 1e-9 of its largest magnitude count as straight and are skipped."""
    d = (np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)) / 2
    dd = np.roll(points, -1, axis=0) - 2 * points + np.roll(points, 1, axis=0)
    curvature = d[:, 0] * dd[:, 1] - d[:, 1] * dd[:, 0]
    x, y = points[:, 0], points[:, 1]
    centre, length = (x.max() + x.min()) / 2, np.ptp(x)
    inside = np.abs(x - centre) < middle * length / 2
    changes = 0
    for flank in (y > np.median(y), y <= np.median(y)):
        values = curvature[inside & flank]
        values = values[np.abs(values) > 1e-9 * np.max(np.abs(curvature))]
        changes += int(np.count_nonzero(np.diff(np.sign(values))))
    return changes
