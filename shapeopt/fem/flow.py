"""Steady incompressible Navier–Stokes on a body-fitted mesh: Taylor–Hood P2/P1, SNES Newton, MUMPS LU.

Non-dimensional form with density 1: `-ν Δu + (u·∇)u + ∇p = 0`, `∇·u = 0`, `ν = U D / Re`.
For a body of revolution (`FlowConfiguration.revolution`) the same equations in the meridional half-plane
(x, r), r ≥ 0, without swirl: the weak form is weighted by r, with the hoop terms ν u_r v_r / r and the
divergence ∂_x u_x + ∂_r u_r + u_r / r, and u_r = 0 on the axis.
The Stokes problem (convection switched off) gives the initial guess; continuation in Re takes over
when Newton fails from it. A solve that does not converge raises `SolverError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import basix.ufl
import numpy as np
import ufl
from dolfinx import default_scalar_type, fem
from dolfinx.fem.petsc import NonlinearProblem
from petsc4py import PETSc

from shapeopt.cases import Case
from shapeopt.errors import SolverError
from shapeopt.fem.meshing import AXIS, BODY, INLET, WALLS, FlowMesh

# Exact for the convection term u·∇u·v (degree 5) on straight cells; curved cells are only at the body.
QUADRATURE_DEGREE = 5


@dataclass
class NewtonReport:
    """What the nonlinear solve did: Newton iterations at the target Re, Re values visited."""

    iterations: int = 0
    stokes_iterations: int = 0
    continuation_steps: list[float] = field(default_factory=list)
    seconds: float = 0.0


class FlowSolver:
    """Owns the Taylor–Hood space, the forms, the boundary conditions and the SNES solver. The reference
    speed, the inflow and wall velocities and whether the form is weighted by r (`revolution`) are the
    case's flow configuration's (`shapeopt.flows`)."""

    _instances = 0

    def __init__(self, flow_mesh: FlowMesh, case: Case):
        self.flow_mesh = flow_mesh
        self.case = case
        mesh = flow_mesh.mesh
        cell = mesh.basix_cell()
        velocity_element = basix.ufl.element("Lagrange", cell, 2, shape=(2,))
        pressure_element = basix.ufl.element("Lagrange", cell, 1)
        self.W = fem.functionspace(mesh, basix.ufl.mixed_element([velocity_element, pressure_element]))
        self.V, self.V_to_W = self.W.sub(0).collapse()
        self.Q, self.Q_to_W = self.W.sub(1).collapse()
        self.w = fem.Function(self.W, name="state")

        self.flow = case.domain.flow
        self.u_ref = self.flow.reference_speed
        self.diameter = flow_mesh.diameter
        self.nu = fem.Constant(mesh, default_scalar_type(self.u_ref * self.diameter / case.re))
        self.convection = fem.Constant(mesh, default_scalar_type(1.0))

        self.revolution = self.flow.revolution
        self.bcs = self._boundary_conditions()
        u, p = ufl.split(self.w)
        v, q = ufl.TestFunctions(self.W)
        dx = ufl.dx(metadata={"quadrature_degree": QUADRATURE_DEGREE})
        if self.revolution:  # (x, r) = (x[0], x[1]); u = (u_x, u_r), no swirl; the weak form times r
            r = ufl.SpatialCoordinate(mesh)[1]
            self.residual_form = (
                self.nu * (ufl.inner(ufl.grad(u), ufl.grad(v)) * r + u[1] * v[1] / r)
                + self.convection * ufl.inner(ufl.grad(u) * u, v) * r
                - p * (ufl.div(v) * r + v[1])
                - q * (ufl.div(u) * r + u[1])
            ) * dx
        else:
            self.residual_form = (
                self.nu * ufl.inner(ufl.grad(u), ufl.grad(v))
                + self.convection * ufl.inner(ufl.grad(u) * u, v)
                - p * ufl.div(v)
                - q * ufl.div(u)
            ) * dx
        self.residual = fem.form(self.residual_form)

        FlowSolver._instances += 1
        settings = case.solver
        self.problem = NonlinearProblem(
            self.residual_form,
            self.w,
            bcs=self.bcs,
            petsc_options_prefix=f"shapeopt_flow{FlowSolver._instances}_",
            petsc_options={
                "snes_type": "newtonls",
                "snes_linesearch_type": "bt",
                "snes_rtol": settings.rtol,
                "snes_atol": settings.atol,
                "snes_stol": 0.0,
                "snes_max_it": settings.max_iterations,
                # At least one Newton step, so that the LU factorisation the adjoint and the Hessian reuse
                # belongs to this state even when the initial guess already meets the tolerances.
                "snes_force_iteration": True,
                "ksp_type": "preonly",
                "pc_type": "lu",
                "pc_factor_mat_solver_type": "mumps",
            },
        )

    def _boundary_conditions(self) -> list[fem.DirichletBC]:
        mesh, facets = self.flow_mesh.mesh, self.flow_mesh.facets
        fdim = mesh.topology.dim - 1

        def velocity_bc(values, marker: int) -> fem.DirichletBC:
            g = fem.Function(self.V)
            g.interpolate(values)
            dofs = fem.locate_dofs_topological((self.W.sub(0), self.V), fdim, facets.find(marker))
            return fem.dirichletbc(g, dofs, self.W.sub(0))

        def zero(x):
            return np.zeros((2, x.shape[1]))

        inflow, walls = self.flow.inflow, self.flow.wall_velocity
        bcs = [velocity_bc(inflow, INLET), velocity_bc(walls, WALLS), velocity_bc(zero, BODY)]
        if self.revolution:  # no radial velocity on the axis
            radial, _ = self.W.sub(0).sub(1).collapse()
            dofs = fem.locate_dofs_topological((self.W.sub(0).sub(1), radial), fdim, facets.find(AXIS))
            bcs.append(fem.dirichletbc(fem.Function(radial), dofs, self.W.sub(0).sub(1)))
        return bcs

    @property
    def dofs(self) -> int:
        """Global number of unknowns (velocity and pressure)."""
        index_map = self.W.dofmap.index_map
        return index_map.size_global * self.W.dofmap.index_map_bs

    @property
    def snes(self):
        """The PETSc SNES of the Newton solve (its KSP holds the last LU factorisation)."""
        return self.problem.solver

    @property
    def jacobian_form(self) -> fem.Form:
        """The compiled Jacobian form ∂R/∂w."""
        return self.problem.J

    def new_vector(self) -> PETSc.Vec:
        """A PETSc vector on the state layout (the caller destroys it)."""
        return self.problem.b.duplicate()

    def new_matrix(self) -> PETSc.Mat:
        """A PETSc matrix with the Jacobian's sparsity (the caller destroys it)."""
        return self.problem.A.duplicate()

    def state(self) -> np.ndarray:
        """A copy of the local state array w = (u, p): (n_local,) float64."""
        return self.w.x.array.copy()

    def set_state(self, w: np.ndarray) -> None:
        """Set the local state array (ghosts updated)."""
        self.w.x.array[:] = w
        self.w.x.scatter_forward()

    def set_reynolds(self, re: float) -> None:
        """Set `ν = U D / Re`."""
        self.nu.value = self.u_ref * self.diameter / re

    def solve(self, re: float | None = None, initial: np.ndarray | None = None) -> NewtonReport:
        """Solve at `re` (default: the case's). Start from `initial` (local state array) or Stokes."""
        start = time.perf_counter()
        target = self.case.re if re is None else re
        report = NewtonReport()
        if initial is None:
            report.stokes_iterations = self._stokes()
        else:
            self.w.x.array[:] = initial
        guess = self.w.x.array.copy()
        converged_re: float | None = None
        trial = target
        failures = 0
        while True:
            ok, iterations = self._newton(trial)
            if ok and trial == target:
                report.iterations = iterations
                break
            if ok:
                converged_re, guess = trial, self.w.x.array.copy()
                report.continuation_steps.append(trial)
                trial = min(target, 2.0 * trial)
                continue
            failures += 1
            if not self.case.solver.continuation:
                raise SolverError(
                    f"Newton did not converge at Re={target:g} (continuation off): {self._failure_reason()}"
                )
            if failures > 8:
                raise SolverError(
                    f"Newton did not converge at Re={target:g}: continuation in Re stalled at "
                    f"Re={trial:g} ({self._failure_reason()})"
                )
            self.w.x.array[:] = guess
            lower = converged_re if converged_re is not None else target / 16.0
            trial = float(np.sqrt(lower * trial))
        report.seconds = time.perf_counter() - start
        return report

    def _stokes(self) -> int:
        self.convection.value = 0.0
        self.w.x.array[:] = 0.0
        ok, iterations = self._newton(self.case.re)
        self.convection.value = 1.0
        if not ok:
            raise SolverError(f"Stokes initial guess failed: {self._failure_reason()}")
        return iterations

    def _newton(self, re: float) -> tuple[bool, int]:
        """One SNES solve at `re` from the current state; (converged, iterations)."""
        self.set_reynolds(re)
        for bc in self.bcs:
            bc.set(self.w.x.array)
        self.problem.solve()
        snes = self.snes
        converged = snes.getConvergedReason() > 0 and np.isfinite(self.residual_norm())
        return converged, snes.getIterationNumber()

    def _failure_reason(self) -> str:
        snes = self.snes
        return (
            f"SNES reason {snes.getConvergedReason()} after {snes.getIterationNumber()} iterations, "
            f"residual norm {snes.getFunctionNorm():.3e}"
        )

    def residual_norm(self) -> float:
        """Euclidean norm of the residual with boundary rows, as Newton sees it."""
        return float(self.snes.getFunctionNorm())

    def destroy(self) -> None:
        """Destroy Newton's PETSc objects (SNES with its LU factorisation, matrix, vectors) now. Under MPI
        every rank calls this at the same point of the program: their teardown is collective (MUMPS), and
        left to the garbage collector the ranks reach it at different moments and wait for ever."""
        for obj in (self.problem.solver, self.problem.A, self.problem.b, self.problem.x):
            obj.destroy()

    def split(self) -> tuple[fem.Function, fem.Function]:
        """Velocity (P2) and pressure (P1) as collapsed functions."""
        u = fem.Function(self.V, name="velocity")
        p = fem.Function(self.Q, name="pressure")
        u.x.array[:] = self.w.x.array[self.V_to_W]
        p.x.array[:] = self.w.x.array[self.Q_to_W]
        return u, p
