"""The reduced functional `s ↦ (C_D, C_L)` with adjoint gradients and the shape constraints.

One object serves the FEM-adjoint optimizer, the `gradient` command and (later) dataset generation and
the trust-region loop: it owns the reference mesh, the morph, the flow solver and the adjoint, and it
counts FEM solves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from scipy.linalg import qr

from shapeopt.cases import Case, body_shape, parameter_bounds
from shapeopt.errors import SolverError
from shapeopt.fem.adjoint import ShapeGradient
from shapeopt.fem.flow import FlowSolver, NewtonReport
from shapeopt.fem.forces import ForceEvaluator
from shapeopt.fem.meshing import build_mesh
from shapeopt.fem.morph import MIN_RADIUS_RATIO, MeshMorph


@dataclass
class Evaluation:
    """FEM result for one shape: coefficients, adjoint gradients (m,) when asked, solver statistics."""

    s: np.ndarray
    re: float
    cd: float
    cl: float
    quality: float
    newton_iterations: int
    seconds: float
    dcd: np.ndarray | None = None
    dcl: np.ndarray | None = None


THICKNESS_ANGLES = 180  # chords through the centre checked by the thickness constraint
SHRINK_STEPS = 8  # an inadmissible drawn design is halved towards the circle at most this often


class DragProblem:
    """C_D(s), C_L(s) and their gradients by FEM + adjoint on one morphed reference mesh."""

    def __init__(self, case: Case, comm: MPI.Comm = MPI.COMM_WORLD):
        self.case = case
        self.shape = body_shape(case)
        self.flow_mesh = build_mesh(case, comm, store=True)
        self.morph = MeshMorph(self.flow_mesh, self.shape, case.shape.min_quality)
        self.solver = FlowSolver(self.flow_mesh, case)
        self.forces = ForceEvaluator(self.solver)
        self.adjoint = ShapeGradient(self.solver, self.forces, self.morph)
        area, centroid, _, _ = self.morph.body.area_centroid(np.zeros(self.shape.size))
        self.reference_area, self.reference_centroid = area, centroid
        self.fem_solves = 0
        self.adjoint_solves = 0
        self.report: NewtonReport | None = None
        self._last: Evaluation | None = None
        self._warm: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of shape parameters."""
        return self.shape.size

    def evaluate(self, s: np.ndarray, gradient: bool = False, re: float | None = None) -> Evaluation:
        """FEM coefficients at shape `s` and `re` (default: the case's), cached for the last query;
        with adjoint gradients if asked."""
        s = np.asarray(s, dtype=float)
        re = self.case.re if re is None else float(re)
        last = self._last
        if last is None or not np.array_equal(last.s, s) or last.re != re:
            last = self._solve(s, re)
        if gradient and last.dcd is None:
            start = time.perf_counter()
            grads = self.adjoint.gradients()
            last.dcd, last.dcl = grads["cd"], grads["cl"]
            last.seconds += time.perf_counter() - start
            self.adjoint_solves += 1
        return last

    def state(self) -> np.ndarray:
        """A copy of the state w = (u, p) of the last solve on the reference DOF layout: (n,) float64."""
        return self.solver.state()

    def move_to(self, s: np.ndarray) -> float:
        """Morph the mesh to shape `s` (returns its quality); the cached gradient no longer applies."""
        quality = self.morph.apply(s)
        self._last = None
        return quality

    def _solve(self, s: np.ndarray, re: float) -> Evaluation:
        start = time.perf_counter()
        quality = self.move_to(s)
        try:
            report = self.solver.solve(re=re, initial=self._warm)
        except SolverError:
            if self._warm is None:
                raise
            report = self.solver.solve(re=re)  # the neighbouring state was a poor guess: start from Stokes
        self.fem_solves += 1
        self.report = report
        self._warm = self.solver.state()
        coefficients = self.forces.volume()
        self._last = Evaluation(
            s=s.copy(),
            re=re,
            cd=coefficients.cd,
            cl=coefficients.cl,
            quality=quality,
            newton_iterations=report.iterations,
            seconds=time.perf_counter() - start,
        )
        return self._last

    def constraints(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Equality constraints g(s) = 0 and their Jacobian (k, m): area ratio, then centroid if fixed."""
        values, jacobian = self.constraints_batch(np.asarray(s, dtype=float)[None, :])
        return values[0], jacobian[0]

    def constraints_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched constraints: s (b, m) → g (b, k), dg/ds (b, k, m)."""
        area, centroid, d_area, d_centroid = self.morph.body.area_centroid_batch(s)
        target = self.case.constraints.area_ratio * self.reference_area
        values = [((area - target) / self.reference_area)[:, None]]
        jacobian = [d_area[:, None, :] / self.reference_area]
        if self.case.constraints.fix_centroid:
            values.append(centroid - self.reference_centroid)
            jacobian.append(d_centroid)
        return np.concatenate(values, axis=1), np.concatenate(jacobian, axis=1)

    def thickness(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inequalities h(s) ≥ 0 of the thickness constraint and their exact Jacobian (K, m): the chord
        through the centre at K angles θ_k ∈ [0, π), r(θ_k) + r(θ_k + π) − min_thickness, in D. Empty
        (0,) and (0, m) without a thickness constraint."""
        values, jacobian = self.thickness_batch(np.asarray(s, dtype=float)[None, :])
        return values[0], jacobian[0]

    def thickness_batch(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched thickness inequalities: s (b, m) → h (b, K), dh/ds (b, K, m)."""
        minimum = self.case.constraints.min_thickness
        if minimum <= 0:
            return np.zeros((len(s), 0)), np.zeros((len(s), 0, self.size))
        theta = np.linspace(0.0, np.pi, THICKNESS_ANGLES, endpoint=False)
        chord = self.shape.r0 * (self.shape.basis(theta) + self.shape.basis(theta + np.pi))  # (K, m)
        values = 2 * self.shape.r0 + s @ chord.T - minimum
        return values, np.broadcast_to(chord, (len(s), *chord.shape))

    def dependent_parameters(self) -> np.ndarray:
        """The parameters the constraints fix, chosen by pivoted QR of their Jacobian at the circle.

        For the Fourier form: a0 (area) and a1, b1 (centroid); the others are free design variables.
        """
        _, jacobian = self.constraints(np.zeros(self.size))
        _, _, pivots = qr(jacobian, pivoting=True)
        return np.sort(pivots[: jacobian.shape[0]])

    def project(self, s: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
        """Solve g(s) = 0 for the dependent parameters by Newton, the free ones fixed; s (b, m).

        Returns the projected designs and a mask of those that converged inside the bounds, meet the
        thickness constraint and are simple curves the mesh map holds.
        """
        s = np.array(s, dtype=float, ndmin=2)
        dependent = self.dependent_parameters()
        open_rows = np.arange(len(s))  # designs still iterating
        for _ in range(iterations):
            values, jacobian = self.constraints_batch(s[open_rows])
            still_open = np.max(np.abs(values), axis=1) >= 1e-13
            if not still_open.any():
                break
            open_rows, values = open_rows[still_open], values[still_open]
            jacobian = jacobian[still_open][:, :, dependent]
            s[np.ix_(open_rows, dependent)] -= np.linalg.solve(jacobian, values[:, :, None])[:, :, 0]
        bounds = np.array(self.bounds())
        values, _ = self.constraints_batch(s)
        inside = np.all((s >= bounds[:, 0]) & (s <= bounds[:, 1]), axis=1)
        thick = np.all(self.thickness_batch(s)[0] >= 0, axis=1)
        low, high = self.shape.radius_ratio_range(s)
        mappable = (low > MIN_RADIUS_RATIO) & (high * self.shape.r0 < self.morph.map.max_body_radius)
        feasible = (np.max(np.abs(values), axis=1) < 1e-10) & inside & thick & mappable
        return s, feasible & np.all(np.isfinite(s), axis=1)

    def draw_designs(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The design distribution of datasets and surrogate searches, from points `unit` (n, m) of the
        unit cube: the parameter box for the Fourier form; smooth bodies (`RadialShape.smooth_designs`)
        for B-splines, whose box is mostly wiggly curves. Made admissible by `admissible_designs`.
        Returns designs (n, m) and the mask (n,) of the admissible ones."""
        if self.shape.kind == "fourier":
            bounds = np.array(self.bounds())
            drawn = bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])
            drawn[:, self.dependent_parameters()] = 0.0  # start of the projection; values unused
        else:
            drawn = self.shape.smooth_designs(unit)
        return self.admissible_designs(drawn)

    def admissible_designs(self, drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Designs (b, m) made admissible: their dependent parameters solved for by `project` (from the
        values given), and each design that is still not admissible halved towards the circle (its
        direction kept) up to `SHRINK_STEPS` times; in a wide box almost no uniform design is a simple
        curve. Returns the designs and the mask (b,) of the admissible ones."""
        drawn = np.array(drawn, dtype=float, ndmin=2)
        for _ in range(SHRINK_STEPS):  # first the cheap test of the radii, before any projection
            low, high = self.shape.radius_ratio_range(drawn)
            wild = (low <= MIN_RADIUS_RATIO) | (high * self.shape.r0 >= self.morph.map.max_body_radius)
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

    def bounds(self) -> list[tuple[float, float]]:
        """Box bounds per parameter (`cases.parameter_bounds`)."""
        return parameter_bounds(self.case)
