"""The FEM drag problem `s ↦ (C_D, C_L)` with adjoint gradients, on one morphed mesh.

One object serves the FEM-adjoint optimizer, the `gradient` command, dataset generation and the
trust-region loop: it owns the mesh (the case's reference mesh, or one generated for a shape the map
could not follow from it: `remesh`), the morph, the flow solver and the adjoint, counts FEM solves, and
holds the case's design space (`shapeopt.space`), which the morph builds on its mesh's bodies.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import assemble_matrix
from mpi4py import MPI

from shapeopt.cases import Case
from shapeopt.errors import MeshQualityError, ReachError, ShapeError, SolverError
from shapeopt.fem.adjoint import ShapeGradient
from shapeopt.fem.flow import FlowSolver, NewtonReport
from shapeopt.fem.forces import Coefficients, ForceEvaluator
from shapeopt.fem.hessian import ShapeHessian
from shapeopt.fem.meshing import FlowMesh, build_mesh
from shapeopt.fem.morph import MeshMorph
from shapeopt.fem.transfer import transferred_state
from shapeopt.space import DesignSpace


@dataclass
class Evaluation:
    """FEM result for one shape: the case's objective J (the total drag unless the case names another,
    `cases.Objective`) and the lift C_L of its bodies, their adjoint gradients (m,) and J's Hessian (m, m)
    when asked, solver statistics; `bodies` each body's own C_D and C_L when there are several."""

    s: np.ndarray
    re: float
    objective: float
    lift: float
    quality: float
    newton_iterations: int
    seconds: float
    gradient: np.ndarray | None = None  # dJ/ds (m,)
    lift_gradient: np.ndarray | None = None  # dC_L/ds (m,)
    hessian: np.ndarray | None = None  # d²J/ds² (m, m)
    bodies: list[Coefficients] | None = None
    mesh_sha256: str = ""  # of the mesh it was solved on (`DragProblem.reference_sha256` or a remesh's)


@dataclass(frozen=True)
class Remesh:
    """A mesh generated for the shape `s` (m,) in place of the one the map could not follow: why, its
    cells and DOFs, its hash, and the seconds to mesh it and carry the flow state over."""

    s: np.ndarray
    reason: str
    cells: int
    dofs: int
    mesh_sha256: str
    seconds: float


class DragProblem:
    """C_D(s), C_L(s) and their gradients by FEM + adjoint on one morphed mesh (`remesh` replaces it)."""

    def __init__(self, case: Case, comm: MPI.Comm = MPI.COMM_WORLD):
        self.case = case
        self._build(build_mesh(case, comm, store=True))
        self.reference_sha256 = self.flow_mesh.sha256  # the case's reference mesh: datasets' and surrogates'
        self.fem_solves = 0
        self.adjoint_solves = 0
        self.hessians = 0
        self.newton: NewtonReport | None = None  # of the last solve
        self._last: Evaluation | None = None
        self._warm: np.ndarray | None = None

    def _build(self, flow_mesh: FlowMesh, fitted: np.ndarray | None = None) -> None:
        """The mesh map, flow solver, forces and adjoint on `flow_mesh`, generated for the shape `fitted`
        (default: the reference circle), and the case's design space on its bodies."""
        self.flow_mesh = flow_mesh
        self.morph = MeshMorph(flow_mesh, self.case, fitted)
        self.solver = FlowSolver(flow_mesh, self.case)
        self.forces = ForceEvaluator(self.solver, self.case.domain.centres, self.case.objective)
        self.adjoint = ShapeGradient(self.solver, self.forces, self.morph)
        self._hessian: ShapeHessian | None = None  # built on first use (its forms take a while to compile)
        self.space: DesignSpace = self.morph.design_space  # the case's design space on the mesh's bodies

    @property
    def on_reference(self) -> bool:
        """Whether the problem solves on the case's reference mesh (no remesh yet)."""
        return self.flow_mesh.sha256 == self.reference_sha256

    def mesh_text(self) -> str:
        """Which mesh the problem solves on, in words: "reference", or the cells of one generated for a
        shape (`remesh`)."""
        if self.on_reference:
            return "reference"
        return f"generated for the shape ({self.flow_mesh.mesh.topology.index_map(2).size_global} cells)"

    def remesh(self, s: np.ndarray, reason: str, carry_state: bool = True) -> Remesh:
        """Generate a mesh for the shape `s` (m,) at the case's level with the reference mesh's size fields
        (`build_mesh` with the bodies' outlines) and solve on it from now on: the map then moves the
        boundary by r(θ; s') − r(θ; s), so designs keep their meaning. The last solve's state, interpolated
        onto the new mesh (`transferred_state`), is the next solve's Newton guess (`carry_state`; else it
        starts from Stokes). Refuses (MeshError) a body of revolution, whose profile meets the axis, and
        (ShapeError) a shape no mesh could hold with the case's maps (`MeshMorph.beyond_any_map`)."""
        start = time.perf_counter()
        s = np.asarray(s, dtype=float)
        problem = self.morph.beyond_any_map(s)
        if problem is not None:
            raise ShapeError(problem)
        outlines = [
            functools.partial(part.outline_at, s=s[block])
            for part, block in zip(self.morph.parts, self.morph.blocks, strict=True)
        ]
        flow_mesh = build_mesh(self.case, self.flow_mesh.mesh.comm, bodies=outlines)
        old_solver, old_adjoint, old_hessian = self.solver, self.adjoint, self._hessian
        self._build(flow_mesh, s)
        self._warm = transferred_state(old_solver, self.solver) if carry_state and self._last else None
        self._last = None
        if old_hessian is not None:
            old_hessian.destroy()
        old_adjoint.destroy()
        old_solver.destroy()
        cells = flow_mesh.mesh.topology.index_map(2).size_global
        return Remesh(
            s.copy(), reason, cells, self.solver.dofs, flow_mesh.sha256, time.perf_counter() - start
        )

    def follow(self, s: np.ndarray, reason: str) -> Remesh | None:
        """Make the mesh hold the shape `s` (m,): the current mesh where its map follows `s` above the
        quality floor and within its reach (moved there; nothing solved), else a mesh generated for `s`
        (`remesh`, with `reason` and why the map could not), whose record it returns. A body of revolution
        is never remeshed: its refusal (`MeshQualityError`, `ReachError`) is raised."""
        if self._last is not None and np.array_equal(self._last.s, s):
            return None
        try:
            self.move_to(s)
        except (MeshQualityError, ReachError) as exc:
            if self.case.domain.flow.revolution:  # its profile meets the axis: never remeshed
                raise
            why = (
                f"min scaled Jacobian {exc.quality:.3f}"
                if isinstance(exc, MeshQualityError)
                else "beyond reach"
            )
            return self.remesh(s, f"{reason} ({why})")
        return None

    def close(self) -> None:
        """Destroy the solver's and the adjoint's PETSc objects now, on every rank at the same point (their
        teardown is collective; `FlowSolver.destroy`). The problem cannot solve afterwards."""
        if self._hessian is not None:
            self._hessian.destroy()
        self.adjoint.destroy()
        self.solver.destroy()

    def __enter__(self) -> DragProblem:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def size(self) -> int:
        """Number of shape parameters."""
        return self.space.size

    def evaluate(
        self, s: np.ndarray, gradient: bool = False, re: float | None = None, hessian: bool = False
    ) -> Evaluation:
        """FEM coefficients at shape `s` and `re` (default: the case's), cached for the last query;
        with adjoint gradients if asked, and with the Hessian of C_D (and the gradients) if asked."""
        s = np.asarray(s, dtype=float)
        re = self.case.re if re is None else float(re)
        last = self._last
        if last is None or not np.array_equal(last.s, s) or last.re != re:
            last = self._solve(s, re)
        if (gradient or hessian) and last.gradient is None:
            start = time.perf_counter()
            grads = self.adjoint.gradients()
            last.gradient, last.lift_gradient = grads["cd"], grads["cl"]
            last.seconds += time.perf_counter() - start
            self.adjoint_solves += 1
        if hessian and last.hessian is None:
            start = time.perf_counter()
            if self._hessian is None:
                self._hessian = ShapeHessian(self.adjoint)
            last.hessian = self._hessian.hessian()
            last.seconds += time.perf_counter() - start
            self.hessians += 1
        return last

    def state(self) -> np.ndarray:
        """A copy of the state w = (u, p) of the last solve on the reference DOF layout: (n,) float64."""
        return self.solver.state()

    def start_from(self, state: np.ndarray | None) -> None:
        """Start the next solve's Newton iteration from `state` (n,) on the reference DOF layout (e.g. the
        solution of a neighbouring problem) instead of the last solve's, or from Stokes (None); one that
        fails from a given state starts again from Stokes."""
        self._warm = None if state is None else np.array(state, dtype=float)

    def state_weights(self) -> np.ndarray:
        """Diagonal (n,) of the mass matrix of (u, p) on the reference mesh: the state inner-product
        weights. Moves the mesh to the reference shape."""
        self.move_to(np.zeros(self.size))
        (u, p), (v, q) = ufl.TrialFunctions(self.solver.W), ufl.TestFunctions(self.solver.W)
        matrix = assemble_matrix(fem.form((ufl.inner(u, v) + p * q) * ufl.dx))
        matrix.assemble()
        diagonal = matrix.getDiagonal().array.copy()
        matrix.destroy()
        return diagonal

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
        self.newton = report
        self._warm = self.solver.state()
        coefficients = self.forces.objective()
        several = self.forces.count > 1
        self._last = Evaluation(
            s=s.copy(),
            re=re,
            objective=coefficients.cd,
            lift=coefficients.cl,
            quality=quality,
            newton_iterations=report.iterations,
            seconds=time.perf_counter() - start,
            bodies=self.forces.per_body() if several else None,
            mesh_sha256=self.flow_mesh.sha256,
        )
        return self._last
