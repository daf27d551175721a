"""Case files: a typed TOML schema, validated before any work starts.

A case names the domain kind, the Reynolds number, the mesh level and the solver settings.
Every problem found in a file is collected and reported together in one line.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shapeopt.errors import CaseError
from shapeopt.files import check_input_file
from shapeopt.flows import FLOWS, FlowConfiguration, flow_of
from shapeopt.geometry.shapes import PARAMETRISATIONS, RadialShape

LEVELS = ("coarse", "medium", "fine")
# The Reynolds numbers a case, `solve --re` or `atlas --re` may give: below 1e-6 the viscous terms swamp
# the solver's arithmetic (1e-300 fails in the Stokes guess); no steady flow is found far above 1e6.
RE_LIMITS = (1e-6, 1e6)


@dataclass(frozen=True)
class Domain:
    """Flow domain: `kind` names its flow configuration (`shapeopt.flows`). The box lengths are in body
    diameters D, from the origin (a body of revolution: the meridional half-plane r ≥ 0, `half_width`
    its radial extent); a configuration with a fixed box ignores them."""

    kind: str
    upstream: float = 40.0
    downstream: float = 80.0
    half_width: float = 40.0
    # Centres (x, y) in D of the bodies, each with its own shape about a reference circle of diameter 1
    # (free stream only); the box's lengths are from the origin.
    bodies: tuple[tuple[float, float], ...] = ((0.0, 0.0),)

    @property
    def flow(self) -> FlowConfiguration:
        """The flow configuration of `kind`."""
        return flow_of(self.kind)

    @property
    def centres(self) -> tuple[tuple[float, float], ...]:
        """The centres (x, y) of the bodies in the configuration's length unit (`bodies`, or the fixed
        body's centre of a configuration that places it itself)."""
        return self.flow.centres(self)


@dataclass(frozen=True)
class SolverSettings:
    """Newton settings: tolerances on the residual norm, iteration cap, Re continuation."""

    rtol: float = 1e-10
    atol: float = 1e-12
    max_iterations: int = 25
    continuation: bool = True


@dataclass(frozen=True)
class ShapeSettings:
    """Body parametrisation (`fourier` or `bspline` radial form), its size, the bound |s_i| ≤ bound, and
    the B-splines' knot stretch (1: knots uniform in the polar angle; > 1: gathered at the tips)."""

    parametrisation: str = "fourier"
    modes: int = 4
    bound: float = 0.3
    min_quality: float = 0.1
    knot_stretch: float = 1.0


@dataclass(frozen=True)
class Constraints:
    """Optimization constraints: body area = `area_ratio` × the reference circle's; centroid fixed; every
    chord through the centre at least `min_thickness` D long (0: no thickness constraint)."""

    area_ratio: float = 1.0
    fix_centroid: bool = True
    min_thickness: float = 0.0


# The weightings of an operating range (`objective.weight`): name → (words, whether uniform in ln Re).
WEIGHTINGS = {"uniform-log": ("uniform in ln Re", True), "uniform": ("uniform in Re", False)}
MAX_POINTS = 16  # Reynolds numbers of an operating range: each costs one FEM solve per evaluation
# What is minimised over an operating range (`objective.goal`): name → words.
GOALS = {"mean": "mean", "worst-regret": "worst relative regret of"}


@dataclass(frozen=True)
class Objective:
    """What `C_D` means to the optimizers: the drag of every body (`body` 0) or of body `body` (from 1),
    plus `lift_weight` times the lift of the same bodies: J = Σ_k (C_D,k + lift_weight C_L,k).

    With an operating range the objective is the weighted mean of that J over Reynolds numbers Re_k:
    J(s) = Σ_k w_k J(s, Re_k) / Σ_k w_k (`quadrature`). `re_range` (low, high) with `weight` (a name of
    `WEIGHTINGS`) and `points_count` K Gauss–Legendre points in ln Re (or in Re), or `points`, the
    (Re, weight) pairs themselves. None of them: one Reynolds number, the case's.

    `goal` "worst-regret" minimises max_k J(s, Re_k) / J*(Re_k) − 1 instead, J* each Re's own optimum; its
    K points then include the range's ends: evenly spaced in ln Re (or Re), trapezoid weights (the mean
    reported beside it)."""

    body: int = 0
    lift_weight: float = 0.0
    re_range: tuple[float, float] | None = None
    weight: str = "uniform-log"
    points_count: int = 4
    points: tuple[tuple[float, float], ...] | None = None
    goal: str = "mean"

    @property
    def multipoint(self) -> bool:
        """Whether the objective is a mean over an operating range of Re."""
        return self.re_range is not None or self.points is not None

    def quadrature(self) -> tuple[np.ndarray, np.ndarray]:
        """The operating range's Reynolds numbers Re_k (K,), increasing, and their weights w_k (K,),
        summing to 1: K-point Gauss–Legendre in ln Re (`uniform-log`) or in Re (`uniform`) over
        `re_range`, or `points` normalised. `ValueError` for an objective at one Reynolds number."""
        if self.points is not None:
            re, weights = np.array(sorted(self.points)).T
            return re, weights / weights.sum()
        if self.re_range is None:
            raise ValueError("the objective has no operating range")
        in_log = WEIGHTINGS[self.weight][1]
        low, high = np.log(self.re_range) if in_log else np.array(self.re_range)
        if self.goal == "worst-regret":  # the ends included: where the regret is largest
            x = np.linspace(low, high, self.points_count)
            weights = np.ones(self.points_count)
            weights[[0, -1]] = 0.5
            return (np.exp(x) if in_log else x), weights / weights.sum()
        nodes, weights = np.polynomial.legendre.leggauss(self.points_count)
        x = 0.5 * (low + high) + 0.5 * (high - low) * nodes
        return (np.exp(x) if in_log else x), weights / weights.sum()

    def describe(self) -> str:
        """The objective in words, e.g. 'C_D of body 2 + 0.5 C_L', or 'mean C_D over Re 5–40 (4 points,
        uniform in ln Re)'."""
        text = "C_D" + ("" if self.body == 0 else f" of body {self.body}")
        text += f" + {self.lift_weight:g} C_L" if self.lift_weight else ""
        if not self.multipoint:
            return text
        text = f"{GOALS[self.goal]} " + (text if text == "C_D" else f"({text})")
        if self.points is not None:
            re, weights = np.array(sorted(self.points)).T
            listed = ", ".join(f"{value:g}" for value in re)
            return f"{text} over Re {listed} (weights {', '.join(f'{w:g}' for w in weights)})"
        low, high = self.re_range
        return f"{text} over Re {low:g}–{high:g} ({self.points_count} points, {WEIGHTINGS[self.weight][0]})"

    def to_dict(self) -> dict[str, Any]:
        """Plain data as a case file gives it: body and lift weight, and the operating range's settings
        only where they are not the defaults (so results saved before they existed read the same)."""
        data = {"body": self.body, "lift_weight": self.lift_weight}
        if self.re_range is not None:
            data |= {
                "re_range": list(self.re_range),
                "weight": self.weight,
                "points_count": self.points_count,
            }
        if self.points is not None:
            data["points"] = [list(point) for point in self.points]
        if self.goal != "mean":
            data["goal"] = self.goal
        return data


@dataclass(frozen=True)
class OptimizeSettings:
    """Outer optimizer: iteration cap (a safeguard) and first-order tolerance."""

    max_iterations: int = 100
    tolerance: float = 1e-6


@dataclass(frozen=True)
class Case:
    """A validated case. `re` is based on the body diameter and the mean inflow speed.

    A case may give Re as a range (`re_range`, for datasets and surrogates); `re` is then its geometric
    mean, the value a single solve uses.
    """

    name: str
    domain: Domain
    re: float
    re_range: tuple[float, float] | None = None
    level: str = "medium"
    solver: SolverSettings = dataclasses.field(default_factory=SolverSettings)
    shape: ShapeSettings = dataclasses.field(default_factory=ShapeSettings)
    constraints: Constraints = dataclasses.field(default_factory=Constraints)
    optimize: OptimizeSettings = dataclasses.field(default_factory=OptimizeSettings)
    objective: Objective = dataclasses.field(default_factory=Objective)
    description: str = ""

    def with_overrides(self, re: float | None = None, level: str | None = None) -> Case:
        """Copy with the Reynolds number and/or mesh level replaced (validated)."""
        errors: list[str] = []
        if re is not None:
            _check_re(errors, "re", re)
        if level is not None and level not in LEVELS:
            errors.append(f"level '{level}' is not one of {', '.join(LEVELS)}")
        if errors:
            raise CaseError("; ".join(errors))
        return dataclasses.replace(self, re=self.re if re is None else float(re), level=level or self.level)

    @property
    def re_bounds(self) -> tuple[float, float]:
        """The Reynolds numbers datasets and surrogates cover: `re_range`, or (re, re) for one value."""
        return self.re_range or (self.re, self.re)

    def to_dict(self) -> dict[str, Any]:
        """The resolved case as plain data (saved with every result); `domain.bodies` only where it is not
        the one body at the origin and `objective` only where it is not the total drag (so results saved
        before either existed read the same)."""
        data = dataclasses.asdict(self)
        if self.domain.bodies == Domain.bodies:
            del data["domain"]["bodies"]
        else:
            data["domain"]["bodies"] = [list(c) for c in self.domain.bodies]
        if self.objective == Objective():
            del data["objective"]
        else:
            data["objective"] = self.objective.to_dict()
        return data


# section -> key -> (accepted python types, description used in messages)
_NUMBER = ((int, float), "a number")
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "": {"name": ((str,), "a string"), "description": ((str,), "a string")},
    "domain": {
        "kind": ((str,), "a string"),
        "upstream": _NUMBER,
        "downstream": _NUMBER,
        "half_width": _NUMBER,
        "bodies": ((list,), "a list of [x, y] centres"),
    },
    "flow": {"re": ((int, float, list), "a number or a [low, high] range")},
    "mesh": {"level": ((str,), "a string")},
    "solver": {
        "rtol": _NUMBER,
        "atol": _NUMBER,
        "max_iterations": ((int,), "an integer"),
        "continuation": ((bool,), "true or false"),
    },
    "shape": {
        "parametrisation": ((str,), "a string"),
        "modes": ((int,), "an integer"),
        "bound": _NUMBER,
        "min_quality": _NUMBER,
        "knot_stretch": _NUMBER,
    },
    "constraints": {
        "area_ratio": _NUMBER,
        "fix_centroid": ((bool,), "true or false"),
        "min_thickness": _NUMBER,
    },
    "optimize": {"max_iterations": ((int,), "an integer"), "tolerance": _NUMBER},
    "objective": {
        "body": ((int,), "an integer (0: every body)"),
        "lift_weight": _NUMBER,
        "re_range": ((list,), "a [low, high] range"),
        "weight": ((str,), "a string"),
        "points_count": ((int,), "an integer"),
        "points": ((list,), "a list of [re, weight] points"),
        "goal": ((str,), "a string"),
    },
}
_REQUIRED = (("domain", "kind"), ("flow", "re"))


def case_from_dict(data: Any, source: str = "saved case") -> Case:
    """Rebuild a resolved case saved with a result (`Case.to_dict`), checked as a case file is
    (`parse_case`): `CaseError` naming `source` for anything a case file may not hold."""
    if not isinstance(data, dict):
        raise CaseError(f"{source}: the case must be a table of settings, got {type(data).__name__}")
    sections = ["domain", "solver", "shape", "constraints", "optimize", "objective"]
    raw = {key: data[key] for key in ("name", "description") if key in data}
    raw |= {section: data.get(section, {}) for section in sections}
    if isinstance(raw["domain"], dict) and isinstance(raw["domain"].get("bodies"), tuple | list):
        bodies = [list(c) if isinstance(c, tuple | list) else c for c in raw["domain"]["bodies"]]
        raw["domain"] = raw["domain"] | {"bodies": bodies}  # lists, as TOML has them
    if isinstance(raw["domain"], dict) and _flow_has(raw["domain"].get("kind"), "fixed_box"):
        raw["domain"] = {"kind": raw["domain"]["kind"]}  # its box lengths were saved, but do not apply
    raw["flow"] = {"re": data["re_range"] if data.get("re_range") is not None else data.get("re")}
    raw["mesh"] = {"level": data.get("level")}
    return parse_case(raw, source=source)


def load_case(path: str | Path) -> Case:
    """Read and validate a case file; raise `CaseError` listing every problem found."""
    path = Path(path)
    check_input_file(path, "case file")  # reading a FIFO or a device would wait or never end
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise CaseError(f"cannot read case file {path}: {exc.strerror or exc}") from None
    return parse_case(raw, default_name=path.stem, source=str(path))


def parse_case(raw: dict[str, Any], default_name: str = "case", source: str = "case") -> Case:
    """Validate a parsed TOML mapping against the schema and build a `Case`; every problem found is
    reported together in one `CaseError`."""
    errors: list[str] = []
    values = _sorted_values(errors, raw)
    _check_domain(errors, values["domain"])
    re_range = _check_flow(errors, values["flow"])
    level = values["mesh"].get("level")
    if level is not None and level not in LEVELS:
        errors.append(f"mesh.level '{level}' is not one of {', '.join(LEVELS)}")
    for key in ("rtol", "atol", "max_iterations"):
        if key in values["solver"]:
            _check_positive(errors, f"solver.{key}", values["solver"][key])
    _check_shape(errors, values)
    if _flow_has(values["domain"].get("kind"), "revolution"):
        shape = values["shape"]
        if shape.get("parametrisation") == "bspline" and shape.get("modes", 4) % 2:
            errors.append("'shape.modes' must be even for a body of revolution (knot j pairs with m − j)")
        if values["constraints"].get("min_thickness", 0.0):
            errors.append("'constraints.min_thickness' does not apply to a body of revolution")
    _check_objective(errors, values)
    _check_limits(errors, values)
    if not errors:
        errors += _reachability_problems(
            Domain(**values["domain"]), ShapeSettings(**values["shape"]), Constraints(**values["constraints"])
        )
    if errors:
        raise CaseError(f"{source}: " + "; ".join(errors))
    return Case(
        name=values[""].get("name", default_name),
        description=values[""].get("description", ""),
        domain=Domain(**values["domain"]),
        re=values["flow"]["re"],
        re_range=re_range,
        level=level or "medium",
        solver=SolverSettings(**values["solver"]),
        shape=ShapeSettings(**values["shape"]),
        constraints=Constraints(**values["constraints"]),
        optimize=OptimizeSettings(**values["optimize"]),
        objective=Objective(**values["objective"]),
    )


def _check_objective(errors: list[str], values: dict[str, dict[str, Any]]) -> None:
    """`objective.body` names a body of the case (or is 0, every body); a body of revolution has no lift."""
    objective = values["objective"]
    count = len(values["domain"].get("bodies", Domain.bodies))
    if not 0 <= objective.get("body", 0) <= count:
        errors.append(
            f"'objective.body' must be 0 (every body) or a body's number from 1 to {count}, "
            f"got {objective['body']}"
        )
    if _flow_has(values["domain"].get("kind"), "revolution") and objective.get("lift_weight", 0.0):
        errors.append("'objective.lift_weight' does not apply to a body of revolution (it has no lift)")
    _check_operating_range(errors, objective)


def _check_operating_range(errors: list[str], objective: dict[str, Any]) -> None:
    """`objective.re_range` [low, high] within `RE_LIMITS` with a known `weight` and 1 ≤ `points_count` ≤
    `MAX_POINTS`, or `objective.points`, [Re, weight] pairs with weights ≥ 0 of a positive sum; never both.
    Stored back as tuples."""
    if "points" in objective:
        given = [key for key in ("re_range", "weight", "points_count") if key in objective]
        if given:
            errors.append(
                f"'objective.points' gives the Reynolds numbers itself: leave out {', '.join(given)}"
            )
        _check_points(errors, objective)
    elif "re_range" in objective:
        _check_range(errors, objective)
    else:
        for key in ("weight", "points_count"):
            if key in objective:
                errors.append(f"'objective.{key}' applies with 'objective.re_range' only")
    if objective.get("weight", "uniform-log") not in WEIGHTINGS:
        errors.append(
            f"unknown objective.weight '{objective['weight']}' (expected one of {', '.join(WEIGHTINGS)})"
        )
    goal = objective.get("goal", "mean")
    if goal not in GOALS:
        errors.append(f"unknown objective.goal '{goal}' (expected one of {', '.join(GOALS)})")
    elif goal != "mean" and not ("points" in objective or "re_range" in objective):
        errors.append(f"'objective.goal' \"{goal}\" needs an operating range (objective.re_range or points)")
    count = objective.get("points_count", 4)
    if goal == "worst-regret" and "re_range" in objective and count < 2:
        errors.append(f"'objective.goal' \"worst-regret\" needs points_count ≥ 2 (both ends), got {count}")
    if not 1 <= count <= MAX_POINTS:
        errors.append(
            f"'objective.points_count' must be in [1, {MAX_POINTS}] (each point costs one FEM solve per "
            f"evaluation), got {count}"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_range(errors: list[str], objective: dict[str, Any]) -> None:
    """`objective.re_range`: two numbers, low < high, each a Reynolds number a solve can take."""
    re_range = objective["re_range"]
    if len(re_range) != 2 or not all(_is_number(v) for v in re_range):
        errors.append(f"'objective.re_range' must be two numbers [low, high], got {re_range!r}")
        return
    if not re_range[0] < re_range[1]:
        errors.append(
            f"'objective.re_range' must satisfy low < high (a range that is not empty), got {re_range!r}"
        )
    for value in re_range:
        _check_re(errors, "objective.re_range", value)
    objective["re_range"] = (float(re_range[0]), float(re_range[1]))


def _check_points(errors: list[str], objective: dict[str, Any]) -> None:
    """`objective.points`: 1 to `MAX_POINTS` [Re, weight] pairs, each Re a Reynolds number a solve can
    take, the weights ≥ 0 with a positive sum."""
    points = objective["points"]
    pairs = all(isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p) for p in points)
    if not pairs or not 1 <= len(points) <= MAX_POINTS:
        errors.append(
            f"'objective.points' must be 1 to {MAX_POINTS} [re, weight] pairs of finite numbers, "
            f"got {points!r}"
        )
        return
    for re, _ in points:
        _check_re(errors, "objective.points", re)
    weights = [w for _, w in points]
    if min(weights) < 0 or not sum(weights) > 0:
        errors.append(f"'objective.points' weights must be ≥ 0 and sum to a positive number, got {weights!r}")
    objective["points"] = tuple((float(re), float(w)) for re, w in points)


def _sorted_values(errors: list[str], raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The keys of `raw` sorted into their schema sections ("" for top-level keys), type-checked; unknown
    sections and keys, wrong types and missing required keys are added to `errors`."""
    values: dict[str, dict[str, Any]] = {section: {} for section in _SCHEMA}
    seen: set[tuple[str, str]] = set()
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in _SCHEMA or key == "":
                errors.append(f"unknown section [{key}]")
                continue
            for sub, subvalue in value.items():
                seen.add((key, sub))
                _check_key(errors, values, key, sub, subvalue)
        else:
            _check_key(errors, values, "", key, value)
    for section, key in _REQUIRED:
        if (section, key) not in seen:
            errors.append(f"missing required key '{section}.{key}'")
    return values


def _check_domain(errors: list[str], domain: dict[str, Any]) -> None:
    """The domain kind is a registered flow configuration (`shapeopt.flows.FLOWS`); box sizes are positive
    and given only where the configuration's box is not fixed."""
    kind = domain.get("kind")
    if kind is not None and kind not in FLOWS:
        errors.append(f"unknown domain kind '{kind}' (expected one of {', '.join(FLOWS)})")
    for key in ("upstream", "downstream", "half_width"):
        if key in domain:
            _check_positive(errors, f"domain.{key}", domain[key])
            if _flow_has(kind, "fixed_box"):
                errors.append(f"'domain.{key}' does not apply to the fixed {kind} geometry")
    if "bodies" in domain:
        _check_bodies(errors, domain)


MIN_BODY_GAP = 0.5  # D between two bodies' circles: the mesh needs cells between them


def _check_bodies(errors: list[str], domain: dict[str, Any]) -> None:
    """`domain.bodies`: a free stream's list of [x, y] centres, at least one, circles at least
    `MIN_BODY_GAP` apart; stored back as a tuple of (x, y) pairs."""
    bodies = domain["bodies"]
    pairs = all(
        isinstance(c, list)
        and len(c) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in c)
        for c in bodies
    )
    if not bodies or not pairs:
        errors.append(f"'domain.bodies' must be a list of [x, y] centres (finite numbers), got {bodies!r}")
        return
    if not _flow_has(domain.get("kind"), "several_bodies"):
        errors.append("'domain.bodies' applies to the freestream domain only")
    centres = np.array(bodies, dtype=float)
    for i, j in zip(*np.triu_indices(len(centres), 1), strict=True):
        if np.linalg.norm(centres[i] - centres[j]) < 1.0 + MIN_BODY_GAP:
            errors.append(
                f"'domain.bodies' {bodies[i]} and {bodies[j]} are closer than {1 + MIN_BODY_GAP:g} D "
                f"(circles of diameter 1 at least {MIN_BODY_GAP:g} D apart)"
            )
    domain["bodies"] = tuple((float(x), float(y)) for x, y in bodies)


def _check_flow(errors: list[str], flow: dict[str, Any]) -> tuple[float, float] | None:
    """`flow.re` as one positive number, or a range [low, high] whose geometric mean becomes `re`
    (set in `flow`). Returns the range, or None for one number."""
    if not isinstance(flow.get("re"), list):
        if "re" in flow:
            flow["re"] = float(flow["re"])
            _check_re(errors, "flow.re", flow["re"])
        return None
    re_range = flow["re"]
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in re_range)
    if len(re_range) != 2 or not numbers:
        errors.append(f"'flow.re' range must be two numbers [low, high], got {re_range!r}")
        return None
    if not (0 < re_range[0] < re_range[1] and math.isfinite(re_range[1])):
        errors.append(f"'flow.re' range must satisfy 0 < low < high < inf, got {re_range!r}")
        return None
    before = len(errors)
    for value in re_range:
        _check_re(errors, "flow.re", value)
    if len(errors) > before:
        return None
    flow["re"] = float(np.sqrt(re_range[0] * re_range[1]))
    return (float(re_range[0]), float(re_range[1]))


def _check_shape(errors: list[str], values: dict[str, dict[str, Any]]) -> None:
    """The parametrisation is known, its size within limits, the positive settings positive."""
    shape = values["shape"]
    kind = shape.get("parametrisation", "fourier")
    if kind not in PARAMETRISATIONS:
        errors.append(
            f"unknown shape.parametrisation '{kind}' (expected one of {', '.join(PARAMETRISATIONS)})"
        )
    for section, key in (
        ("shape", "modes"),
        ("shape", "bound"),
        ("shape", "min_quality"),
        ("shape", "knot_stretch"),
        ("constraints", "area_ratio"),
        ("optimize", "max_iterations"),
        ("optimize", "tolerance"),
    ):
        if key in values[section]:
            _check_positive(errors, f"{section}.{key}", values[section][key])
    if kind == "fourier" and shape.get("knot_stretch", 1.0) != 1.0:
        errors.append("'shape.knot_stretch' applies to the bspline parametrisation only")
    if kind == "bspline" and shape.get("modes", 4) < 4:
        errors.append("'shape.modes' must be ≥ 4 for the bspline parametrisation")
    if kind in MAX_MODES and shape.get("modes", 0) > MAX_MODES[kind]:
        errors.append(f"'shape.modes' must be ≤ {MAX_MODES[kind]} for {kind}, got {shape['modes']}")
    if shape.get("min_quality", 0.5) >= 1:
        errors.append(
            f"'shape.min_quality' must be < 1 (a fraction of the reference cells), got {shape['min_quality']}"
        )
    if shape.get("bound", 0.0) > MAX_BOUND:  # beyond it the box and area checks overflow
        errors.append(f"'shape.bound' must be ≤ {MAX_BOUND:g}, got {shape['bound']:g}")


# The limits of the case's numbers that have no natural one, each with its reason: beyond them a value
# overflows, hangs the mesher or the solver, or gives a result without meaning and without an error.
# (section, key) → (low, high, reason); the low limits of the positive settings are `_check_positive`'s.
# Bounded elsewhere: shape.bound (`MAX_BOUND`), shape.modes (`MAX_MODES`), shape.min_quality (< 1),
# constraints.area_ratio (reachable within the bound) and min_thickness (below the body's diameter),
# objective.body (a body's number). optimize.max_iterations is a cap only (a Python int into SciPy).
MAX_BOX = 1000.0
LIMITS: dict[tuple[str, str], tuple[float, float, str]] = {
    **{
        ("domain", key): (
            -math.inf,
            MAX_BOX,
            "in D: a 1000 D box already has 147 000 coarse cells; the mesher runs for hours at 1e6",
        )
        for key in ("upstream", "downstream", "half_width")
    },
    ("solver", "rtol"): (-math.inf, 1e-3, "a looser tolerance accepts an unconverged flow without an error"),
    ("solver", "atol"): (-math.inf, 1e-3, "a looser tolerance accepts an unconverged flow without an error"),
    ("solver", "max_iterations"): (-math.inf, 1000, "PETSc counts in 32-bit integers"),
    ("shape", "knot_stretch"): (
        0.1,
        10.0,
        "knot intervals span a factor stretch² along the body; beyond it the knots collapse onto the tips "
        "(or flanks) and the basis loses rank",
    ),
    ("optimize", "tolerance"): (
        -math.inf,
        1e-3,
        "a looser tolerance ends SLSQP at its start and reports it converged",
    ),
    ("objective", "lift_weight"): (
        -1000.0,
        1000.0,
        "beyond it the drag is lost in J = C_D + w C_L and the products overflow",
    ),
}


def _check_limits(errors: list[str], values: dict[str, dict[str, Any]]) -> None:
    """Every number of `LIMITS` that a case gives lies within its limits (Re: `RE_LIMITS`); one message
    each, with the reason. A value that is no positive number where it must be one, or a range
    refused as such, is left to the checks that name that problem."""
    given = {(section, key): value for section, entries in values.items() for key, value in entries.items()}
    for (section, key), (low, high, reason) in LIMITS.items():
        value = given.get((section, key))
        if not isinstance(value, int | float) or (low > 0 and not value > 0) or low <= value <= high:
            continue
        allowed = f"≤ {high:g}" if low == -math.inf else f"in [{low:g}, {high:g}]"
        errors.append(f"'{section}.{key}' must be {allowed} ({reason}), got {value:g}")


MAX_MODES = {"fourier": 32, "bspline": 128}
MAX_BOUND = 100.0  # |s_i| ≤ bound: the shipped cases use 0.6 and 3
BOX_MARGIN = 1.0  # free stream: at least this many diameters between the body and the box


def _reachability_problems(domain: Domain, shape: ShapeSettings, constraints: Constraints) -> list[str]:
    """The constraint set must be non-empty and a box that is not fixed must hold every admissible body (in
    a fixed box the mesh map refuses, shape by shape, a body reaching past its map)."""
    body = RadialShape(kind=shape.parametrisation, modes=shape.modes, r0=0.5)
    problems = []
    low, high = body.area_ratio_range(shape.bound)
    if not low < constraints.area_ratio < high:
        problems.append(
            f"'constraints.area_ratio' {constraints.area_ratio:g} cannot be reached inside the bounds: "
            f"with shape.bound {shape.bound:g} it must lie in ({low:.4g}, {high:.4g})"
        )
    diameter = 2 * body.r0 * np.sqrt(constraints.area_ratio)  # of the circle of the body's area
    if not 0 <= constraints.min_thickness < diameter:
        problems.append(
            f"'constraints.min_thickness' {constraints.min_thickness:g} must lie in [0, {diameter:.4g}) "
            "(the diameter of the circle of the body's area)"
        )
    reach = body.r0 * (1 + body.radius_ratio_bound(shape.bound))
    if len(domain.bodies) > 1:  # each body stays inside its mesh map, which ends short of its neighbour
        reach = min(reach, min(domain.flow.map_radii(domain)))  # on a mesh generated for a body out there
    x, y = np.array(domain.bodies).T
    extents = {"upstream": -x.min(), "downstream": x.max(), "half_width": np.abs(y).max()}
    for key in ("upstream", "downstream", "half_width") if not domain.flow.fixed_box else ():
        need = extents[key] + reach + BOX_MARGIN
        if getattr(domain, key) < need:
            problems.append(
                f"'domain.{key}' {getattr(domain, key):g} does not hold the body: it may reach {reach:.3g} D "
                f"from its centre, so the box needs ≥ {need:.3g}"
            )
    return problems


def _flow_has(kind: Any, feature: str) -> bool:
    """Whether the configuration registered as `kind` has the boolean `feature` (e.g. "revolution"); False
    for a missing or unknown kind (the kind's own error names that problem)."""
    flow = FLOWS.get(kind) if isinstance(kind, str) else None
    return flow is not None and getattr(flow, feature)


def _check_key(
    errors: list[str], values: dict[str, dict[str, Any]], section: str, key: str, value: Any
) -> None:
    name = f"{section}.{key}" if section else key
    spec = _SCHEMA[section].get(key)
    if spec is None:
        errors.append(f"unknown key '{name}'")
        return
    types, described = spec
    # bool is an int subclass in Python; a TOML boolean is never a number here.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        errors.append(f"'{name}' must be {described}, got {type(value).__name__} {value!r}")
        return
    if spec is _NUMBER and not math.isfinite(value):
        errors.append(f"'{name}' must be a finite number, got {value!r}")
        return
    values[section][key] = float(value) if spec is _NUMBER else value


def re_problem(name: str, value: float) -> str | None:
    """Why `value` is no Reynolds number a steady solve can take (`RE_LIMITS`), naming it `name`; None if
    it is one."""
    low, high = RE_LIMITS
    if not (value > 0 and math.isfinite(value)):
        return f"'{name}' must be a finite number > 0, got {value!r}"
    if not (low <= value <= high):
        return f"'{name}' must lie from {low:g} to {high:g} (steady flow the solver can take), got {value!r}"
    return None


def _check_re(errors: list[str], name: str, value: float) -> None:
    problem = re_problem(name, value)
    if problem is not None:
        errors.append(problem)


def _check_positive(errors: list[str], name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        errors.append(f"'{name}' must be a finite number > 0, got {value!r}")
