"""The parameter spec: which shapes a vector `s` describes, shared by datasets, surrogates and cases.

A spec names the parametrisation (kind, number of modes, parameter names), the reference circle it is
taken about (radius `r0`, `center`, lengths in body diameters D), the box `bounds` (m, 2) and the
constraints the designs satisfy. Two specs are `compatible` when the same `s` means the same shape; a
spec `fits` another when it is compatible and its box lies inside the other's (a case may ask less of a
surrogate than it was trained on, never more).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

BOUND_TOLERANCE = 1e-12  # bounds are compared up to this absolute tolerance


@dataclass(frozen=True)
class ParameterSpec:
    """Parametrisation of `m` shape parameters with their box bounds and design constraints."""

    kind: str
    modes: int
    names: tuple[str, ...]
    r0: float
    center: tuple[float, float]
    bounds: tuple[tuple[float, float], ...]
    area_ratio: float = 1.0
    fix_centroid: bool = True
    min_thickness: float = 0.0
    stretch: float = 1.0  # B-splines' knot stretch (1: uniform in θ)

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "center", tuple(float(c) for c in self.center))
        object.__setattr__(self, "bounds", tuple((float(lo), float(hi)) for lo, hi in self.bounds))
        if len(self.bounds) != len(self.names):
            raise ValueError(f"spec has {len(self.names)} parameter names but {len(self.bounds)} bounds")

    @property
    def size(self) -> int:
        """Number of shape parameters m."""
        return len(self.names)

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds (m,)."""
        return np.array([lo for lo, _ in self.bounds])

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds (m,)."""
        return np.array([hi for _, hi in self.bounds])

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples) for JSON and HDF5 attributes."""
        data = asdict(self)
        data["names"], data["center"] = list(self.names), list(self.center)
        data["bounds"] = [list(b) for b in self.bounds]
        if self.stretch == 1.0:  # uniform knots: written as before the stretch existed, so older files match
            del data["stretch"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParameterSpec:
        """Rebuild a spec from `to_dict` output; raises ValueError naming a missing or unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"parameter spec has unknown keys {unknown}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"incomplete parameter spec ({exc})") from None

    def differences(self, other: ParameterSpec) -> list[str]:
        """What makes the same `s` a different shape under `other`: one phrase per differing field."""
        found = []
        for key in ("kind", "modes", "names", "r0", "center", "stretch"):
            mine, theirs = getattr(self, key), getattr(other, key)
            if mine != theirs:
                found.append(
                    f"parametrisation {key} {list(mine) if key == 'names' else mine!r} ≠ "
                    f"{list(theirs) if key == 'names' else theirs!r}"
                )
        return found

    def compatible(self, other: ParameterSpec) -> bool:
        """True when the same `s` describes the same shape under both specs (bounds may differ)."""
        return not self.differences(other)

    def fits(self, other: ParameterSpec) -> bool:
        """True when compatible and this spec's box lies inside `other`'s (up to `BOUND_TOLERANCE`)."""
        return (
            self.compatible(other)
            and bool(np.all(self.lower >= other.lower - BOUND_TOLERANCE))
            and bool(np.all(self.upper <= other.upper + BOUND_TOLERANCE))
        )

    def fit_problems(self, other: ParameterSpec) -> list[str]:
        """Why this spec does not fit `other` (empty when it does), as "`other`'s value ≠ this one's"."""
        found = other.differences(self)
        if not found and not self.fits(other):
            found.append("parameter bounds reach outside the trained box")
        return found
