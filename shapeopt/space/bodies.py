"""The design space of several bodies: one `RadialDesignSpace` per body, their vectors concatenated.

Body k's parameters are `s[blocks[k]]` (`geometry.bodies.BodyShapes`). Each body keeps its own box, its
own area (ratio to its reference circle) and centroid and its own thickness constraint, so the
constraints' Jacobian is block diagonal; a design is mappable when every body is. Lengths in D.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from shapeopt.cases import Case
from shapeopt.geometry.bodies import BodyShapes, join_outlines
from shapeopt.geometry.discrete_body import DiscreteBody
from shapeopt.space.base import DesignSpace, Measure
from shapeopt.space.radial import RadialDesignSpace


@dataclass(frozen=True, eq=False)
class BodiesDesignSpace(DesignSpace):
    """Admissible shapes of several radial bodies: `parts` one space per body, `shape` their joint vector."""

    parts: tuple[RadialDesignSpace, ...]
    shape: BodyShapes

    @classmethod
    def from_case(
        cls,
        case: Case,
        bodies: list[DiscreteBody],
        max_body_radii: list[float],
        reach_limits: list[np.ndarray | None] | None = None,
    ) -> BodiesDesignSpace:
        """The case's parametrisation, bounds and constraints for each body on its discrete boundary,
        each reaching at most its `max_body_radii` from its centre (its mesh map's), or its
        `reach_limits` direction by direction (`RadialDesignSpace`)."""
        limits = reach_limits or [None] * len(bodies)
        parts = tuple(
            RadialDesignSpace.from_case(case, body, radius, index=k, reach_limits=limit)
            for k, (body, radius, limit) in enumerate(zip(bodies, max_body_radii, limits, strict=True))
        )
        return cls(parts=parts, shape=BodyShapes(tuple(part.shape for part in parts)))

    @cached_property
    def bounds(self) -> np.ndarray:
        """(m, 2) box bounds, the bodies' in order."""
        return np.concatenate([part.bounds for part in self.parts])

    @property
    def min_thickness(self) -> float:
        """The least chord through each body's centre, in D."""
        return self.parts[0].min_thickness

    @property
    def fix_centroid(self) -> bool:
        """Whether each body's centroid is held (all bodies alike)."""
        return self.parts[0].fix_centroid

    def at_target_size(self, s: np.ndarray) -> np.ndarray:
        """Each body dilated about its own centre to its constrained area
        (`RadialDesignSpace.at_target_size`)."""
        return np.concatenate(self._each("at_target_size", s))

    def with_min_thickness(self, min_thickness: float) -> BodiesDesignSpace:
        """The same space with every body's thickness constraint set to `min_thickness` (D)."""
        return dataclasses.replace(self, parts=tuple(p.with_min_thickness(min_thickness) for p in self.parts))

    def measure(self, s: np.ndarray) -> Measure:
        """All bodies together: their area, its ratio to the reference circles' and their centroid (2,)."""
        measures = self.measure_bodies(s)
        areas = np.array([area for area, _, _ in measures])
        references = np.array([area / ratio for area, ratio, _ in measures])
        centroid = np.sum([area * c for area, _, c in measures], axis=0) / areas.sum()
        return float(areas.sum()), float(areas.sum() / references.sum()), centroid

    def measure_bodies(self, s: np.ndarray) -> list[Measure]:
        """Each body's area, area ratio and centroid (`RadialDesignSpace.measure`)."""
        return self._each("measure", s)

    def constraints_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every body's equalities in turn: s (b, m) → g (b, k), dg/ds (b, k, m) block diagonal."""
        return self._stacked(self._each("constraints_batch", np.atleast_2d(s)))

    def thickness_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every body's thickness inequalities in turn: s (b, m) → h (b, K), dh/ds (b, K, m)."""
        return self._stacked(self._each("thickness_batch", np.atleast_2d(s)))

    def mappable(self, s: np.ndarray) -> np.ndarray:
        """Mask (b,) of the designs whose every body its mesh map holds."""
        return np.logical_and.reduce(self._each("mappable", np.atleast_2d(s)))

    def simple(self, s: np.ndarray) -> bool:
        """Whether every body of the design s (m,) is a simple curve (`RadialDesignSpace.simple`)."""
        return all(part.simple(own) for part, own in zip(self.parts, self.shape.split(s), strict=True))

    def unmappable(self, s: np.ndarray) -> str | None:
        """The first body the mesh map cannot hold at s (m,), named with the whole design
        (`RadialDesignSpace.reach_problem`); None where every body fits."""
        for k, (part, own) in enumerate(zip(self.parts, self.shape.split(s), strict=True)):
            problem = part.reach_problem(own, s, f"body {k + 1} of ")
            if problem is not None:
                return problem
        return None

    @property
    def draw_version(self) -> str:
        """The bodies' common draw version (`RadialDesignSpace.draw_version`)."""
        return self.parts[0].draw_version

    def drawn(self, unit: np.ndarray) -> np.ndarray:
        """Each body's raw draws (`RadialDesignSpace.drawn`) from its own columns of `unit` (n, m)."""
        return np.hstack(self._each("drawn", np.atleast_2d(unit)))

    def boundary(self, s: np.ndarray) -> np.ndarray:
        """Every body's boundary nodes (`RadialDesignSpace.boundary`), a row of NaN between bodies."""
        return join_outlines(self._each("boundary", s))

    def _each(self, method: str, s: np.ndarray) -> list:
        """`method` of each body's space applied to its own parameters of `s` (m,) or (b, m)."""
        return [getattr(part, method)(p) for part, p in zip(self.parts, self.shape.split(s), strict=True)]

    def _stacked(self, pieces: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Values (b, k_j) and Jacobians (b, k_j, m_j) of the bodies → (b, Σk), (b, Σk, Σm) block diagonal."""
        values = np.concatenate([v for v, _ in pieces], axis=1)
        jacobian = np.zeros((len(values), values.shape[1], self.size))
        row = 0
        for (value, part), block in zip(pieces, self.shape.blocks, strict=True):
            jacobian[:, row : row + value.shape[1], block] = part
            row += value.shape[1]
        return values, jacobian
