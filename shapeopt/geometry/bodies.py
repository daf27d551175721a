"""Several star-shaped bodies, each a `RadialShape` about its own centre, described by one vector.

The shape vector is the concatenation `s = (s_1, …, s_n)` of the bodies' parameters, body k's in the
slice `blocks[k]`; every body uses the same parametrisation. Names are prefixed with the body's number
(`b1.a0`, `b2.a0`, …). Outlines of several bodies are one (n, 2) array with a row of NaN between bodies,
which plotting draws as separate curves. Pure numpy; lengths in D.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from shapeopt.geometry.shapes import RadialShape


@dataclass(frozen=True)
class BodyShapes:
    """The bodies `shapes` (same kind, modes, r0 and stretch; distinct centres) and their joint vector."""

    shapes: tuple[RadialShape, ...]

    def __post_init__(self):
        first = self.shapes[0]
        for shape in self.shapes[1:]:
            same = (shape.kind, shape.modes, shape.r0, shape.stretch, shape.revolution)
            if same != (first.kind, first.modes, first.r0, first.stretch, first.revolution):
                raise ValueError("the bodies must share one parametrisation")

    @property
    def kind(self) -> str:
        return self.shapes[0].kind

    @property
    def modes(self) -> int:
        return self.shapes[0].modes

    @property
    def r0(self) -> float:
        return self.shapes[0].r0

    @property
    def stretch(self) -> float:
        return self.shapes[0].stretch

    @property
    def center(self) -> tuple[float, float]:
        """The first body's centre."""
        return self.shapes[0].center

    @property
    def centers(self) -> tuple[tuple[float, float], ...]:
        """Every body's centre (x, y) in D."""
        return tuple(shape.center for shape in self.shapes)

    @property
    def size(self) -> int:
        """Number of shape parameters: the sum over the bodies."""
        return sum(shape.size for shape in self.shapes)

    @cached_property
    def blocks(self) -> tuple[slice, ...]:
        """Body k's parameters are `s[..., blocks[k]]`."""
        ends = np.cumsum([0] + [shape.size for shape in self.shapes])
        return tuple(slice(int(a), int(b)) for a, b in itertools.pairwise(ends))

    def split(self, s: np.ndarray) -> list[np.ndarray]:
        """Each body's parameters of `s` (m,) or (b, m): views (m_k,) or (b, m_k)."""
        s = np.asarray(s, dtype=float)
        return [s[..., block] for block in self.blocks]

    def names(self) -> list[str]:
        """Parameter names, `b<k>.<name>` with k from 1."""
        return [f"b{k}.{name}" for k, shape in enumerate(self.shapes, start=1) for name in shape.names()]

    def scales(self) -> np.ndarray:
        """Relative size of each parameter's admissible range (`RadialShape.scales`), concatenated."""
        return np.concatenate([shape.scales() for shape in self.shapes])

    def radius_ratio_bound(self, bound: float) -> float:
        """An upper bound of max |r/r₀ − 1| of any body over the box (`RadialShape.radius_ratio_bound`)."""
        return self.shapes[0].radius_ratio_bound(bound)

    def area_ratio_range(self, bound: float) -> tuple[float, float]:
        """Outer bounds of each body's area ratio over the box (`RadialShape.area_ratio_range`)."""
        return self.shapes[0].area_ratio_range(bound)

    def mirror(self) -> np.ndarray:
        """(m, m) involution R with body k of `R s` the mirror image, about y = 0, of the body of `s` whose
        centre mirrors onto body k's (`RadialShape.mirror` within a body; side by side: the bodies swap).
        ValueError if some body's mirrored centre is no body's centre."""
        centers = np.asarray(self.centers)
        matrix = np.zeros((self.size, self.size))
        for k, (x, y) in enumerate(centers):
            partner = np.flatnonzero(np.all(np.isclose(centers, [x, -y], atol=1e-12), axis=1))
            if len(partner) != 1:
                raise ValueError(f"body {k + 1} at ({x:g}, {y:g}) has no mirror image among the bodies")
            matrix[self.blocks[k], self.blocks[partner[0]]] = self.shapes[k].mirror()
        return matrix

    def outline(self, s: np.ndarray, n: int = 400) -> np.ndarray:
        """The closed boundary polygons of every body, (n+1, 2) each, separated by a row of NaN."""
        parts = [shape.outline(part, n) for shape, part in zip(self.shapes, self.split(s), strict=True)]
        return join_outlines(parts)

    def radius_ratio_range(self, s: np.ndarray, n: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Least and greatest r/r₀ over all bodies of designs s (b, m): two (b,) arrays."""
        ranges = [
            shape.radius_ratio_range(part, n)
            for shape, part in zip(self.shapes, self.split(np.atleast_2d(s)), strict=True)
        ]
        return np.min([low for low, _ in ranges], axis=0), np.max([high for _, high in ranges], axis=0)


def join_outlines(parts: list[np.ndarray]) -> np.ndarray:
    """Polygons (n_k, 2) as one array, a row of NaN between two polygons."""
    gap = np.full((1, 2), np.nan)
    pieces = [piece for part in parts for piece in (gap, part)][1:]
    return np.vstack(pieces)


def split_outline(points: np.ndarray) -> list[np.ndarray]:
    """The polygons (n_k, 2) of an outline whose bodies are separated by rows of NaN (`join_outlines`)."""
    gaps = np.flatnonzero(np.isnan(points[:, 0]))
    parts = [part[~np.isnan(part[:, 0])] for part in np.split(points, gaps)]
    return [part for part in parts if len(part)]


def dilated(shape: RadialShape | BodyShapes, s: np.ndarray, factor: float) -> np.ndarray:
    """The parameters (m,) of the body `s` (m,) dilated by `factor` about the shape's centre, r → factor·r
    (its area times factor²): factor·s + (factor − 1)·e, with e the parameters of r/r₀ − 1 = 1. Several
    bodies: each about its own centre."""
    ones = []
    for part in shape.shapes if isinstance(shape, BodyShapes) else (shape,):
        theta = np.linspace(0.0, 2 * np.pi, 8 * part.size, endpoint=False)
        ones.append(np.linalg.lstsq(part.basis(theta), np.ones_like(theta), rcond=None)[0])
    return factor * np.asarray(s, dtype=float) + (factor - 1.0) * np.concatenate(ones)
