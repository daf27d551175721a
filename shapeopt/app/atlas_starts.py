"""The problems of an atlas and where each starts.

A problem is one combination of Reynolds number, area ratio and minimum thickness (`Conditions`); the grid
takes every combination in the order area ratio, thickness, Re ascending, so that neighbours are close.
Each problem starts from the nearest optimum already found (distance in scaled (ln Re, area ratio,
thickness), `Conditions.coordinates`), dilated to its area and projected onto its constraints, or from two
optima on its line extrapolated in ln Re (`warm_start`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapeopt.cases import Case
from shapeopt.geometry.bodies import dilated
from shapeopt.space import DesignSpace
from shapeopt.space.base import SHRINK_STEPS

# Distance between conditions for the warm start: one unit is a doubling of Re, 0.1 of area ratio (the
# start dilated to the new area, `dilated`) or 1 D of minimum thickness. In the 24-coefficient space at
# Re 1–40 a doubling of Re moves the optimum by 0.07–0.3 (max-norm of s), 0.1 of area ratio after the
# dilation by 0.004–0.025, and a thickness of 0.5 D by 0 where it is inactive (Re ≤ 10), up to 0.13 at Re 40.
RE_UNIT = math.log(2.0)
AREA_UNIT = 0.1
THICKNESS_UNIT = 1.0
# An optimum on its thickness constraint meets it only to rounding (~1e-13 D): a start may miss it by this.
THICKNESS_SLACK = 1e-9


@dataclass(frozen=True)
class Conditions:
    """One problem: Reynolds number, body area over the reference circle's (diameter 1), and the least
    chord through the centre in D (0: no thickness constraint)."""

    re: float
    area_ratio: float
    min_thickness: float

    @property
    def name(self) -> str:
        """The problem's folder name, e.g. `re5-area1.1-thick0.5`."""
        return f"re{self.re:.12g}-area{self.area_ratio:.12g}-thick{self.min_thickness:.12g}"

    def text(self) -> str:
        """For messages: 'Re 5, area ratio 1.1, min thickness 0.5'."""
        return f"Re {self.re:g}, area ratio {self.area_ratio:g}, min thickness {self.min_thickness:g}"

    def coordinates(self) -> np.ndarray:
        """(3,) (ln Re, area ratio, thickness in D) in units of `RE_UNIT`, `AREA_UNIT`, `THICKNESS_UNIT`."""
        return np.array(
            [math.log(self.re) / RE_UNIT, self.area_ratio / AREA_UNIT, self.min_thickness / THICKNESS_UNIT]
        )

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Conditions:
        """The conditions of a table row."""
        return cls(float(row["re"]), float(row["area_ratio"]), float(row["min_thickness"]))


def atlas_grid(
    res: Iterable[float], area_ratios: Iterable[float], min_thicknesses: Iterable[float]
) -> list[Conditions]:
    """Every combination, ordered by area ratio, thickness, then Re ascending (neighbours close)."""
    combinations = itertools.product(sorted(area_ratios), sorted(min_thicknesses), sorted(res))
    return [Conditions(float(re), float(a), float(t)) for a, t, re in combinations]


def case_for(base: Case, conditions: Conditions) -> Case:
    """The case of one problem: `base` at one Re, with the problem's area ratio and thickness."""
    constraints = dataclasses.replace(
        base.constraints, area_ratio=conditions.area_ratio, min_thickness=conditions.min_thickness
    )
    return dataclasses.replace(base, re=conditions.re, re_range=None, constraints=constraints)


def warm_start(
    space: DesignSpace,
    conditions: Conditions,
    found: dict[str, tuple[Conditions, np.ndarray]],
    takes: Callable[[np.ndarray], bool] | None = None,
) -> tuple[np.ndarray, str]:
    """The start (m,) of a problem with design space `space`, and where it comes from. The optima in
    `found` (name → conditions, s (m,)) are dilated to the problem's area (`dilated`) and projected onto
    its constraints; the start is the nearest (`Conditions.coordinates`) whose projection is admissible
    (its name; thickness to `THICKNESS_SLACK`); if there is none, the nearest halved towards the circle
    until it is ("0.5*NAME", at most `SHRINK_STEPS` halvings: a thickness constraint that the optimum
    breaks); else the circle (zeros, "circle"). Where the nearest has the problem's area ratio and
    thickness and another optimum on that line is known, the two are extrapolated in ln Re instead
    ("NAME+OTHER", `extrapolated_in_re`). With `takes` (whether the mesh takes a design: the mesh map's
    cell quality, which the design space does not know) a start the mesh does not take is passed over for
    the next."""
    if not found:
        return np.zeros(space.size), "circle"
    takes = takes or (lambda s: True)
    space = _relaxed(space)
    names, starts, projected, admissible = _projected_optima(space, conditions, found)
    along_re = extrapolated_in_re(space, conditions, found, names[0])
    if along_re is not None and takes(along_re[0]):
        return along_re
    for name, s, ok in zip(names, projected, admissible, strict=True):
        if ok and takes(s):
            return s, name
    factors = 0.5 ** np.arange(1, SHRINK_STEPS + 1)
    shrunk, admissible = space.project(factors[:, None] * starts[0])
    for factor, s, ok in zip(factors, shrunk, admissible, strict=True):
        if ok and takes(s):
            return s, f"{factor:g}*{names[0]}"
    return np.zeros(space.size), "circle"


def extrapolated_in_re(
    space: DesignSpace,
    conditions: Conditions,
    found: dict[str, tuple[Conditions, np.ndarray]],
    nearest: str,
) -> tuple[np.ndarray, str] | None:
    """The start of a problem from the optimum `nearest` (of `found`) at another Re on the problem's line
    (same area ratio and thickness) and the optimum on that line nearest to it in ln Re: linear in ln Re
    through the two, projected onto the constraints of `space`, and "NEAREST+OTHER"; None where `nearest`
    is off the line, no other optimum is on it, or the projection is not admissible. The optima move
    smoothly with ln Re, so the error of the start falls from first to second order in the step."""
    first, s_first = found[nearest]
    line = (conditions.area_ratio, conditions.min_thickness)
    if (first.area_ratio, first.min_thickness) != line or first.re == conditions.re:
        return None
    others = [
        name
        for name, (c, _) in found.items()
        if (c.area_ratio, c.min_thickness) == line and c.re not in (first.re, conditions.re)
    ]
    if not others:
        return None
    other = min(
        others, key=lambda name: (round(abs(math.log(found[name][0].re / first.re)), 9), found[name][0].re)
    )
    second, s_second = found[other]
    t = math.log(conditions.re / first.re) / math.log(first.re / second.re)
    projected, admissible = space.project((s_first + t * (s_first - s_second))[None, :])
    return (projected[0], f"{nearest}+{other}") if admissible[0] else None


def known_optima(
    space: DesignSpace, conditions: Conditions, found: dict[str, tuple[Conditions, np.ndarray]]
) -> np.ndarray | None:
    """The optima `found` (name → conditions, s (m,)) dilated to the problem's area and projected onto its
    constraints, those admissible, nearest first (k, m); None if there is none."""
    if not found:
        return None
    _, _, projected, admissible = _projected_optima(_relaxed(space), conditions, found)
    return projected[admissible] if admissible.any() else None


def _projected_optima(
    space: DesignSpace, conditions: Conditions, found: dict[str, tuple[Conditions, np.ndarray]]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The names of the optima `found`, nearest first, their parameters dilated to the problem's area (k, m),
    those projected onto its constraints (k, m) and whether each projection is admissible (k,)."""
    names = nearest_first(conditions, {name: c for name, (c, _) in found.items()})
    starts = np.array(
        [
            dilated(space.shape, found[name][1], math.sqrt(conditions.area_ratio / found[name][0].area_ratio))
            for name in names
        ]
    )
    projected, admissible = space.project(starts)
    return names, starts, projected, admissible


def nearest_first(conditions: Conditions, known: dict[str, Conditions]) -> list[str]:
    """The names of the `known` conditions, nearest to `conditions` first (`Conditions.coordinates`);
    distances equal to 1e-9 units are ordered by (Re, area ratio, thickness) ascending, so the order does
    not depend on the order in which the problems were finished or read back."""

    def key(name: str) -> tuple[float, float, float, float]:
        c = known[name]
        distance = float(np.linalg.norm(c.coordinates() - conditions.coordinates()))
        return (round(distance, 9), c.re, c.area_ratio, c.min_thickness)

    return sorted(known, key=key)


def _relaxed(space: DesignSpace) -> DesignSpace:
    """`space` with its thickness constraint relaxed by `THICKNESS_SLACK` (an optimum meets it only to
    rounding)."""
    if space.min_thickness > 0:
        return space.with_min_thickness(max(space.min_thickness - THICKNESS_SLACK, 0.0))
    return space
