"""The contract of every design space (`DesignSpace`) and what it builds from it, whatever its shapes.

A concrete space (`RadialDesignSpace`: one body; `BodiesDesignSpace`: several; made by
`space.factory.design_space`) provides the abstract part: the shapes `shape`, the box `bounds` (m, 2),
the thickness setting `min_thickness` and `fix_centroid`, the batched equalities `constraints_batch` and
inequalities `thickness_batch` with their Jacobians, the mesh map's test `mappable` and its reason
`unmappable`, the raw draws `drawn` with their `draw_version`, the bodies' `measure`, their solver
`boundary` and `with_min_thickness`. From these this base class builds the single-design forms, the
SciPy constraints, KKT residuals, the projection onto g(s) = 0 and the admissible draws.
s (m,) or (b, m) float64; lengths in the case's unit.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from functools import cached_property

import numpy as np
from scipy.linalg import qr
from scipy.stats import qmc

from shapeopt.geometry.bodies import BodyShapes
from shapeopt.geometry.shapes import RadialShape

MIN_RADIUS_RATIO = 0.05  # r/r₀ at or below this anywhere: not a simple curve the mesh can follow
SHRINK_STEPS = 8  # an inadmissible drawn design is halved towards the circle at most this often
ACTIVE_TOLERANCE = 1e-9  # a bound or inequality this close to holding with equality is active
# A design whose constraint violation (`DesignSpace.violation`: relative area, centroid in the case's unit,
# thickness) exceeds this is infeasible: no optimizer reports it as an optimum. Projections meet 1e-10,
# SLSQP's converged iterates ~1e-12; an area ratio 2.008 for 2 is 4e-3.
FEASIBILITY_TOLERANCE = 1e-6

# A body's measure: its area (a body of revolution: volume), the ratio to its reference's, centroid (2,).
Measure = tuple[float, float, np.ndarray]


def design_text(s: np.ndarray) -> str:
    """A design (m,) as it is shown in messages: `[0.1, -0.02, …]`, 4 significant digits."""
    return "[" + ", ".join(f"{v:.4g}" for v in s) + "]"


class DesignSpace(ABC):
    """Bounds, constraints, projection and draws of a design space (see the module)."""

    shape: RadialShape | BodyShapes
    bounds: np.ndarray  # (m, 2)
    min_thickness: float  # the least chord through a body's centre (0: no thickness constraint)
    fix_centroid: bool  # the centroid is held by an equality

    @property
    def size(self) -> int:
        """Number of shape parameters m."""
        return self.shape.size

    def names(self) -> list[str]:
        """Parameter names, in order (several bodies: `b<k>.<name>`)."""
        return self.shape.names()

    @abstractmethod
    def constraints_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched equalities: s (b, m) → g (b, k), dg/ds (b, k, m)."""

    @abstractmethod
    def thickness_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched inequalities h ≥ 0: s (b, m) → h (b, K), dh/ds (b, K, m)."""

    @abstractmethod
    def mappable(self, s: np.ndarray) -> np.ndarray:
        """Mask (b,) of the designs s (b, m) that are simple curves the mesh map holds."""

    @abstractmethod
    def simple(self, s: np.ndarray) -> bool:
        """Whether the design s (m,) is made of simple curves (min r/r₀ above `MIN_RADIUS_RATIO`), whether or
        not the mesh map reaches them."""

    @abstractmethod
    def unmappable(self, s: np.ndarray) -> str | None:
        """Why the mesh map cannot hold the design s (m,) (not a simple curve, or reaching past the map),
        in words; None where it can. The mesh map (`fem.morph.MeshMorph`) asks this before it moves."""

    @abstractmethod
    def drawn(self, unit: np.ndarray) -> np.ndarray:
        """Raw designs (n, m) from points `unit` (n, m) of the unit cube, before `admissible`."""

    @property
    @abstractmethod
    def draw_version(self) -> str:
        """How sample i's design follows from the seed (`draw`); a dataset's resumes must match it."""

    @abstractmethod
    def measure(self, s: np.ndarray) -> Measure:
        """All bodies together at s (m,): area (volume), its ratio to the reference's, centroid (2,)."""

    @abstractmethod
    def measure_bodies(self, s: np.ndarray) -> list[Measure]:
        """`measure` of each body at s (m,), in order."""

    @abstractmethod
    def boundary(self, s: np.ndarray) -> np.ndarray:
        """The bodies as the solver meshes them at s (m,): boundary nodes (n, 2), counter-clockwise from
        each rear tip, a row of NaN between two bodies."""

    @abstractmethod
    def at_target_size(self, s: np.ndarray) -> np.ndarray:
        """The design s (m,) with each body dilated about its centre to the area (a body of revolution: the
        volume) that its constraint asks for (`geometry.bodies.dilated`)."""

    @abstractmethod
    def with_min_thickness(self, min_thickness: float) -> DesignSpace:
        """The same space with the thickness constraint set to `min_thickness` (the case's length unit)."""

    # Constraints -----------------------------------------------------------------------------------------

    def constraints(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Equalities g(s) = 0 (k,) and their Jacobian (k, m): area ratio, then centroid if fixed."""
        values, jacobian = self.constraints_batch(np.asarray(s, dtype=float)[None, :])
        return values[0], jacobian[0]

    def thickness(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inequalities h(s) ≥ 0 of the thickness constraint and their exact Jacobian (K, m): the chord
        through the centre at K angles θ_k ∈ [0, π), r(θ_k) + r(θ_k + π) − min_thickness, in D. Empty
        (0,) and (0, m) without a thickness constraint."""
        values, jacobian = self.thickness_batch(np.asarray(s, dtype=float)[None, :])
        return values[0], jacobian[0]

    def scipy_constraints(self) -> list[dict]:
        """The equalities and (with a thickness constraint) inequalities with Jacobians, for SLSQP."""
        constraints = [
            {"type": "eq", "fun": lambda s: self.constraints(s)[0], "jac": lambda s: self.constraints(s)[1]}
        ]
        if self.min_thickness > 0:
            constraints.append(
                {"type": "ineq", "fun": lambda s: self.thickness(s)[0], "jac": lambda s: self.thickness(s)[1]}
            )
        return constraints

    def bounds_within(self, center: np.ndarray, radius: float) -> list[tuple[float, float]]:
        """The box bounds intersected with the ∞-norm ball of `radius` about `center`: (m,) pairs."""
        low = np.maximum(self.bounds[:, 0], center - radius)
        high = np.minimum(self.bounds[:, 1], center + radius)
        return list(zip(low.tolist(), high.tolist(), strict=True))

    def violation(self, s: np.ndarray) -> float:
        """max(|g(s)|, −h(s)): how far `s` is from meeting the constraints."""
        values, _ = self.constraints(s)
        thickness, _ = self.thickness(s)
        return float(max(np.max(np.abs(values)), np.max(-thickness, initial=0.0)))

    def feasible(self, s: np.ndarray) -> bool:
        """Whether `s` meets the constraints to `FEASIBILITY_TOLERANCE` (`violation`)."""
        return bool(self.violation(s) <= FEASIBILITY_TOLERANCE)

    def feasible_start(self, s: np.ndarray) -> tuple[np.ndarray, bool]:
        """An optimizer's start s (m,) made feasible before its first solve: `s` itself where it meets the
        constraints (`feasible`); else `s` dilated to the constrained area (`at_target_size`: the circle
        of the case's shape for another area ratio) and projected onto g = 0 (`project`), else `s`
        projected as it is. Returns the start and whether it is admissible; where neither projection
        is, `s` as given and False (the optimizer's result then says whether it ended feasible)."""
        s = np.asarray(s, dtype=float)
        if self.feasible(s):
            return s, True
        projected, admissible = self.project(np.array([self.at_target_size(s), s]))
        for candidate, ok in zip(projected, admissible, strict=True):
            if ok:
                return candidate, True
        return s, False

    def active_thickness(self, s: np.ndarray) -> np.ndarray:
        """Indices of the thickness inequalities that hold with equality (to `ACTIVE_TOLERANCE`)."""
        return np.flatnonzero(self.thickness(s)[0] <= ACTIVE_TOLERANCE)

    def active_bounds(self, s: np.ndarray) -> np.ndarray:
        """Indices of the parameters on their bound."""
        low, high = self.bounds[:, 0], self.bounds[:, 1]
        return np.flatnonzero(np.minimum(np.abs(s - low), np.abs(high - s)) <= ACTIVE_TOLERANCE)

    def kkt_residual(self, s: np.ndarray, gradient: np.ndarray) -> float:
        """‖∇C − Aᵀλ − Hᵀμ − ν‖∞ for `gradient` ∇C (m,) at `s`, with least-squares multipliers of the
        equalities, the active thickness inequalities and the active bounds; a multiplier of the wrong sign
        counts as residual."""
        matrix, multipliers, first, touching, active = self._multipliers(s, gradient)
        residual = np.abs(gradient - matrix @ multipliers)
        # ∇C = μ ∇h with μ ≥ 0 for h ≥ 0 (the constraint holds the shape back); μ < 0 means release it.
        wrong = float(np.max(-multipliers[first : first + len(touching)], initial=0.0))
        # At an upper bound KKT needs ∂C/∂s_i ≤ 0, at a lower bound ≥ 0.
        for k, i in enumerate(active, start=first + len(touching)):
            at_upper = abs(self.bounds[i, 1] - s[i]) <= abs(s[i] - self.bounds[i, 0])
            if multipliers[k] * (1.0 if at_upper else -1.0) > 0:
                residual[i] = max(residual[i], abs(multipliers[k]))
        return float(max(np.max(residual), wrong))

    def stationarity(self, s: np.ndarray, gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The gradient ∇C (m,) at `s` less its least-squares part along the gradients of the equalities,
        the active thickness inequalities and the active bounds (m,): zero at a KKT point whatever the
        multipliers' signs; and the projector (m, m) onto the tangent space of those constraints."""
        matrix, multipliers, *_ = self._multipliers(s, gradient)
        basis, _ = np.linalg.qr(matrix) if matrix.shape[1] else (np.zeros((self.size, 0)), None)
        return gradient - matrix @ multipliers, np.eye(self.size) - basis @ basis.T

    def _multipliers(
        self, s: np.ndarray, gradient: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
        """The active constraints' gradients as columns (m, k), least-squares multipliers (k,) of `gradient`
        on them, the number of equalities and the indices of the active thickness inequalities and bounds."""
        _, jacobian = self.constraints(s)
        _, thickness = self.thickness(s)
        touching, active = self.active_thickness(s), self.active_bounds(s)
        matrix = np.vstack([jacobian, thickness[touching], np.eye(self.size)[active]]).T
        multipliers, *_ = np.linalg.lstsq(matrix, gradient, rcond=None)
        return matrix, multipliers, jacobian.shape[0], touching, active

    # Projection and admissibility ------------------------------------------------------------------------

    @cached_property
    def dependent_parameters(self) -> np.ndarray:
        """The parameters the constraints fix, chosen by pivoted QR of their Jacobian at the circle.

        For the Fourier form: a0 (area) and a1, b1 (centroid); the others are free design variables.
        """
        _, jacobian = self.constraints(np.zeros(self.size))
        _, _, pivots = qr(jacobian, pivoting=True)
        return np.sort(pivots[: jacobian.shape[0]])

    def project(self, s: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
        """Solve g(s) = 0 for the dependent parameters by Newton, the free ones fixed; s (b, m).

        Returns the projected designs (b, m) and a mask (b,) of those that converged inside the bounds,
        meet the thickness constraint and are simple curves the mesh map holds.
        """
        s = np.array(s, dtype=float, ndmin=2)
        dependent = self.dependent_parameters
        open_rows = np.arange(len(s))  # designs still iterating
        for _ in range(iterations):
            values, jacobian = self.constraints_batch(s[open_rows])
            still_open = np.max(np.abs(values), axis=1) >= 1e-13
            if not still_open.any():
                break
            open_rows, values = open_rows[still_open], values[still_open]
            jacobian = jacobian[still_open][:, :, dependent]
            s[np.ix_(open_rows, dependent)] -= np.linalg.solve(jacobian, values[:, :, None])[:, :, 0]
        values, _ = self.constraints_batch(s)
        inside = np.all((s >= self.bounds[:, 0]) & (s <= self.bounds[:, 1]), axis=1)
        thick = np.all(self.thickness_batch(s)[0] >= 0, axis=1)
        feasible = (np.max(np.abs(values), axis=1) < 1e-10) & inside & thick & self.mappable(s)
        return s, feasible & np.all(np.isfinite(s), axis=1)

    def nearest_feasible(self, s: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, bool]:
        """The design nearest s (m,) that meets the equalities g = 0: Gauss–Newton steps of least norm,
        Δs = −J⁺ g, from s (a design feasible on another mesh's discrete body moves by the difference of
        the two boundaries, where `project` would move its dependent parameters alone, and far where they
        barely change g). Returns the design (m,) and whether it converged inside the bounds, meets the
        thickness constraint and is a simple curve the mesh map holds."""
        s = np.array(s, dtype=float)
        for _ in range(iterations):
            values, jacobian = self.constraints(s)
            if np.max(np.abs(values)) < 1e-13:
                break
            s -= np.linalg.lstsq(jacobian, values, rcond=None)[0]
        values, _ = self.constraints(s)
        inside = bool(np.all((s >= self.bounds[:, 0]) & (s <= self.bounds[:, 1])))
        thick = bool(np.all(self.thickness_batch(s[None, :])[0] >= 0))
        feasible = np.max(np.abs(values)) < 1e-10 and inside and thick and bool(self.mappable(s[None, :])[0])
        return s, feasible and bool(np.all(np.isfinite(s)))

    def admissible(self, drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Designs (b, m) made admissible: their dependent parameters solved for by `project` (from the
        values given), and each design that is still not admissible halved towards the circle (its
        direction kept) up to `SHRINK_STEPS` times; in a wide box almost no uniform design is a simple
        curve. Returns the designs and the mask (b,) of the admissible ones."""
        drawn = np.array(drawn, dtype=float, ndmin=2)
        for _ in range(SHRINK_STEPS):  # first the cheap test of the radii, before any projection
            wild = ~self.mappable(drawn)
            if not wild.any():
                break
            drawn[wild] *= 0.5
        s, feasible = self.project(drawn)
        for _ in range(SHRINK_STEPS):
            if feasible.all():
                break
            drawn[~feasible] *= 0.5
            s[~feasible], feasible[~feasible] = self.project(drawn[~feasible])
        return s, feasible

    # Draws -----------------------------------------------------------------------------------------------

    def draw(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The design distribution of datasets and surrogate searches (`drawn`), made admissible by
        `admissible`: designs (n, m) and the mask (n,) of the admissible ones."""
        return self.admissible(self.drawn(unit))

    def sobol_samples(
        self, n: int, seed: int, re_bounds: tuple[float, float], start: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Samples `start … start + n − 1` of the scrambled Sobol sequence over the design distribution
        (`draw`) and log Re: s (n, m) admissible, Re (n,) log-uniform in `re_bounds`, feasible mask (n,)."""
        sobol = qmc.Sobol(self.size + 1, scramble=True, seed=seed)
        if start:
            sobol.fast_forward(start)
        with warnings.catch_warnings():  # balance asks for 2^k points from 0; the points are the same
            warnings.simplefilter("ignore", UserWarning)
            unit = sobol.random(n)
        log_low, log_high = np.log(re_bounds[0]), np.log(re_bounds[1])
        re = np.exp(log_low + unit[:, -1] * (log_high - log_low))
        s, feasible = self.draw(unit[:, :-1])
        return s, re, feasible
