"""The design space of one star-shaped body `r(θ) = r₀ (1 + φ(θ)·s)` (`geometry.shapes.RadialShape`).

Its admissible set: the parameter box, equalities g(s) = 0 (area ratio, centroid if fixed), inequalities
h(s) ≥ 0 (chords through the centre at least `min_thickness` long), and simple curves the mesh map
holds (min r/r₀ above `MIN_RADIUS_RATIO`, max r below the map's reach). Area and centroid are those of the
discrete body (the mesh's boundary edges, `geometry.discrete_body.DiscreteBody`), so the constraints hold
exactly on the mesh the FEM solves on. Lengths in D; s (m,) or (b, m) float64.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from shapeopt.cases import Case
from shapeopt.designs import body_shapes, parameter_bounds
from shapeopt.geometry.bodies import dilated
from shapeopt.geometry.discrete_body import DiscreteBody
from shapeopt.geometry.outlines import boundary_chain
from shapeopt.geometry.shapes import RadialShape
from shapeopt.space.base import MIN_RADIUS_RATIO, DesignSpace, Measure, design_text

THICKNESS_ANGLES = 180  # chords through the centre checked by the thickness constraint
REACH_ANGLES = np.linspace(0.0, 2 * np.pi, 2048, endpoint=False)  # where a body's reach is checked


@dataclass(frozen=True, eq=False)
class RadialDesignSpace(DesignSpace):
    """Admissible shapes of one radial body: bounds, constraints, projection, draws.

    body: the discrete boundary whose area and centroid the constraints fix; max_body_radius: how far
    from the centre a body may reach and the mesh still follow it, or, on a mesh generated for another
    shape, `reach_limits` (2048,): how far in each direction of `REACH_ANGLES` (`RadialMap.reach` from
    that shape's radius); bounds (m, 2) per parameter;
    min_thickness: the least chord through the centre. Lengths in the case's unit (D in the free stream,
    metres in the DFG channel, whose reference circle has D = 0.1 m). `revolution`: the body is the
    meridional profile (y ≥ 0) of a body of revolution about the x axis; `area_ratio` then fixes its
    volume V = 2π ∫∫ y dA (Pappus) and `fix_centroid` the solid's axial centroid.
    """

    shape: RadialShape
    body: DiscreteBody = field(repr=False)
    max_body_radius: float
    bounds: np.ndarray = field(repr=False)
    area_ratio: float = 1.0
    fix_centroid: bool = True
    min_thickness: float = 0.0
    revolution: bool = False
    reach_limits: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_case(
        cls,
        case: Case,
        body: DiscreteBody,
        max_body_radius: float,
        index: int = 0,
        reach_limits: np.ndarray | None = None,
    ) -> RadialDesignSpace:
        """The case's parametrisation, bounds and constraints of its body `index` on the discrete `body`
        of its mesh (reaching `max_body_radius`, or `reach_limits` (2048,) direction by direction)."""
        constraints = case.constraints
        shape = body_shapes(case)[index]
        return cls(
            shape=shape,
            body=body,
            max_body_radius=max_body_radius,
            bounds=np.array(parameter_bounds(case), dtype=float)[: shape.size],
            area_ratio=constraints.area_ratio,
            fix_centroid=constraints.fix_centroid,
            min_thickness=constraints.min_thickness * 2 * shape.r0,  # D → the case's length unit
            revolution=case.domain.flow.revolution,
            reach_limits=reach_limits,
        )

    @cached_property
    def reference_area(self) -> float:
        """Area of the discrete reference circle (s = 0), in D²."""
        return self.body.area_centroid(np.zeros(self.size))[0]

    @cached_property
    def reference_centroid(self) -> np.ndarray:
        """Centroid (2,) of the discrete reference circle, in D."""
        return self.body.area_centroid(np.zeros(self.size))[1]

    def measure(self, s: np.ndarray) -> Measure:
        """The body's area, its ratio to the reference circle's and its centroid (2,); for a body of
        revolution its volume (2π ∫∫ y dA over the profile), the ratio to the reference sphere's and the
        solid's centroid (on the axis)."""
        if not self.revolution:
            area, centroid, _, _ = self.body.area_centroid(np.asarray(s, dtype=float))
            return area, area / self.reference_area, centroid
        moment, centroid, _, _ = self.body.revolution_batch(np.asarray(s, dtype=float)[None, :])
        ratio = float(moment[0]) / self.reference_revolution[0]
        return 2 * np.pi * float(moment[0]), ratio, np.array([float(centroid[0]), 0.0])

    def measure_bodies(self, s: np.ndarray) -> list[Measure]:
        """`measure` of the one body, as a list (as `BodiesDesignSpace.measure_bodies` gives per body)."""
        return [self.measure(s)]

    def at_target_size(self, s: np.ndarray) -> np.ndarray:
        """s (m,) dilated about the centre to the constrained area ratio (volume ratio: lengths scale as its
        cube root); s itself where its area is not positive."""
        ratio = self.measure(s)[1]
        if not ratio > 0:
            return np.asarray(s, dtype=float)
        return dilated(self.shape, s, (self.area_ratio / ratio) ** (1 / (3 if self.revolution else 2)))

    def with_min_thickness(self, min_thickness: float) -> RadialDesignSpace:
        """The same space with the thickness constraint set to `min_thickness` (the case's length unit)."""
        return dataclasses.replace(self, min_thickness=min_thickness)

    # Constraints -----------------------------------------------------------------------------------------

    def constraints_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched constraints: s (b, m) → g (b, k), dg/ds (b, k, m)."""
        if self.revolution:
            return self._revolution_constraints(s)
        area, centroid, d_area, d_centroid = self.body.area_centroid_batch(s)
        target = self.area_ratio * self.reference_area
        values = [((area - target) / self.reference_area)[:, None]]
        jacobian = [d_area[:, None, :] / self.reference_area]
        if self.fix_centroid:
            values.append(centroid - self.reference_centroid)
            jacobian.append(d_centroid)
        return np.concatenate(values, axis=1), np.concatenate(jacobian, axis=1)

    def _revolution_constraints(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Volume ratio and, if fixed, the solid's axial centroid (`DiscreteBody.revolution_batch`)."""
        moment, centroid, d_moment, d_centroid = self.body.revolution_batch(s)
        reference, reference_centroid = self.reference_revolution
        values = [((moment - self.area_ratio * reference) / reference)[:, None]]
        jacobian = [d_moment[:, None, :] / reference]
        if self.fix_centroid:
            values.append((centroid - reference_centroid)[:, None])
            jacobian.append(d_centroid[:, None, :])
        return np.concatenate(values, axis=1), np.concatenate(jacobian, axis=1)

    @cached_property
    def reference_revolution(self) -> tuple[float, float]:
        """∫∫ y dA (the volume over 2π) and the axial centroid of the reference sphere's discrete profile."""
        moment, centroid, _, _ = self.body.revolution_batch(np.zeros((1, self.size)))
        return float(moment[0]), float(centroid[0])

    def thickness_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched thickness inequalities: s (b, m) → h (b, K), dh/ds (b, K, m)."""
        if self.min_thickness <= 0:
            return np.zeros((len(s), 0)), np.zeros((len(s), 0, self.size))
        theta = np.linspace(0.0, np.pi, THICKNESS_ANGLES, endpoint=False)
        chord = self.shape.r0 * (self.shape.basis(theta) + self.shape.basis(theta + np.pi))  # (K, m)
        values = 2 * self.shape.r0 + s @ chord.T - self.min_thickness
        return values, np.broadcast_to(chord, (len(s), *chord.shape))

    # Projection and admissibility ------------------------------------------------------------------------

    def mappable(self, s: np.ndarray) -> np.ndarray:
        """Mask (b,) of the designs s (b, m) that are simple curves the mesh map holds."""
        low, high = self.shape.radius_ratio_range(s)
        if self.reach_limits is None:
            return (low > MIN_RADIUS_RATIO) & (high * self.shape.r0 < self.max_body_radius)
        radii = self.shape.r0 * (1.0 + np.atleast_2d(s) @ self.shape.basis(REACH_ANGLES).T)
        return (low > MIN_RADIUS_RATIO) & np.all(radii < self.reach_limits, axis=1)

    def simple(self, s: np.ndarray) -> bool:
        """Whether the design s (m,) is a simple curve (min r/r₀ on 2048 angles above `MIN_RADIUS_RATIO`),
        whether or not the mesh map reaches it."""
        return self.shape.min_radius_ratio(s) > MIN_RADIUS_RATIO

    def unmappable(self, s: np.ndarray) -> str | None:
        """Why the mesh map cannot hold the design s (m,), None where it can (`reach_problem`)."""
        return self.reach_problem(s)

    def reach_problem(self, s: np.ndarray, shown: np.ndarray | None = None, label: str = "") -> str | None:
        """Why the mesh map cannot hold this body at s (m,): min r/r₀ on 2048 angles at most
        `MIN_RADIUS_RATIO` (not a simple curve), or reaching `max_body_radius` or further; None where it
        can. The message shows the design `shown` (default s) after `label` (e.g. "body 2 of ")."""
        shown = s if shown is None else shown
        ratio = self.shape.min_radius_ratio(s)
        if ratio <= MIN_RADIUS_RATIO:
            return f"{label}shape s={design_text(shown)} is not a simple curve (min r/r0 = {ratio:.3f})"
        if self.reach_limits is not None:
            excess = self.shape.radius(REACH_ANGLES, s) - self.reach_limits
            worst = int(np.argmax(excess))
            if excess[worst] >= 0:
                reach, limit = excess[worst] + self.reach_limits[worst], self.reach_limits[worst]
                return (
                    f"{label}shape s={design_text(shown)} reaches {reach:.3g} D from its centre at "
                    f"{np.degrees(REACH_ANGLES[worst]):.0f}°, where the mesh map of a mesh generated for "
                    f"another shape holds bodies up to {limit:.3g} D"
                )
            return None
        reach = self.shape.max_radius_ratio(s) * self.shape.r0
        if reach >= self.max_body_radius:
            return (
                f"{label}shape s={design_text(shown)} reaches {reach:.3g} D from its centre; the mesh map "
                f"holds bodies up to {self.max_body_radius:.3g} D"
            )
        return None

    # Draws -----------------------------------------------------------------------------------------------

    @property
    def draw_version(self) -> str:
        """How sample i's design follows from the seed (`draw`); a dataset's resumes must match it."""
        return "sobol-admissible/1" if self.shape.kind == "fourier" else "sobol-smooth/1"

    def drawn(self, unit: np.ndarray) -> np.ndarray:
        """Raw designs (n, m) from points `unit` (n, m) of the unit cube: the parameter box for the Fourier
        form; smooth bodies (`RadialShape.smooth_designs`) for B-splines, whose box is mostly wiggly
        curves. `draw` makes them admissible."""
        if self.shape.kind == "fourier":
            drawn = self.bounds[:, 0] + unit * (self.bounds[:, 1] - self.bounds[:, 0])
            drawn[:, self.dependent_parameters] = 0.0  # start of the projection; values unused
            return drawn
        return self.shape.smooth_designs(unit)

    def boundary(self, s: np.ndarray) -> np.ndarray:
        """The body as the solver meshes it: its boundary nodes (n, 2), counter-clockwise from the rear tip
        (`outlines.boundary_chain`; a body of revolution's open profile)."""
        return boundary_chain(self.body.positions(s), self.body.edges, not self.revolution)
