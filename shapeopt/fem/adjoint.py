"""Discrete adjoint of the force coefficients and their shape gradient `dC/ds`.

With the coefficient written through the weak residual, `C(w, X) = −R(w, X; φ)` (φ the objective's
weights on the bodies' velocity DOFs, `ForceEvaluator.weights`), and free/constrained DOFs F/B:

    J_FFᵀ λ_F = −(∂R(w, X; φ)/∂w)_F,   λ_B = 0,   μ = φ + λ,
    dC/dX = −∂R(w, X; μ)/∂X,           dC/ds_i = ⟨dC/dX, d_i⟩.

`∂/∂X` is UFL's derivative with respect to the SpatialCoordinate. The transposed solve reuses the LU
factorisation that Newton built last, at the final iterate, one small step from the solution: iterative
refinement with the Jacobian assembled at the solution makes the adjoint exact in two or three
back-substitutions, with no new factorisation.
"""

from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx.fem.petsc import assemble_matrix, create_matrix
from petsc4py import PETSc

from shapeopt.errors import SolverError
from shapeopt.fem.flow import FlowSolver
from shapeopt.fem.forces import ForceEvaluator
from shapeopt.fem.morph import MeshMorph


class ShapeGradient:
    """Adjoint shape gradients of C_D and C_L for the solver's converged state."""

    def __init__(self, solver: FlowSolver, forces: ForceEvaluator, morph: MeshMorph):
        self.solver, self.forces, self.morph = solver, forces, morph
        W = solver.W
        self.weight = fem.Function(W, name="adjoint_weight")
        (test,) = solver.residual_form.arguments()
        weighted = ufl.replace(solver.residual_form, {test: self.weight})
        self._d_state = fem.form(ufl.derivative(weighted, solver.w, ufl.TestFunction(W)))
        coordinates = ufl.SpatialCoordinate(solver.W.mesh)
        self._d_shape = fem.form(ufl.derivative(weighted, coordinates, ufl.TestFunction(morph.space)))
        self.constrained = np.unique(np.concatenate([bc.dof_indices()[0] for bc in solver.bcs]))
        self._rhs, self._lam, self._work, self._step = (solver.new_vector() for _ in range(4))
        self._jacobian = create_matrix(solver.jacobian_form)
        n_owned = morph.space.dofmap.index_map.size_local * 2
        self.basis_owned = np.stack([f[:n_owned] for f in morph.fields])  # (m, n_owned)
        self.multipliers: dict[str, np.ndarray] = {}  # μ = φ + λ (local DOFs) per coefficient, last state

    def gradients(self) -> dict[str, np.ndarray]:
        """`{"cd": dJ/ds, "cl": dC_L/ds}`, each (m,), for the current (converged) state: J the case's
        objective (the total drag by default) and C_L the lift of its bodies."""
        self.assemble_jacobian()
        return {name: self._gradient(name) for name in ("cd", "cl")}

    def _gradient(self, name: str) -> np.ndarray:
        W = self.solver.W
        n_owned = W.dofmap.index_map.size_local
        phi = self.forces.weights[name]
        self.set_weight(phi)

        # Right-hand side −∂R(w; φ)/∂w, zero on constrained rows.
        d_state = fem.assemble_vector(self._d_state)
        d_state.scatter_reverse(la.InsertMode.add)
        rhs = -d_state.array[:n_owned]
        rhs[self.constrained[self.constrained < n_owned]] = 0.0
        self._rhs.array[:] = rhs
        self.solve(self._rhs, self._lam, transpose=True)

        mu = phi.copy()
        mu[:n_owned] += self._lam.array
        self.set_weight(mu)
        self.multipliers[name] = self.weight.x.array.copy()
        d_shape = fem.assemble_vector(self._d_shape)
        d_shape.scatter_reverse(la.InsertMode.add)
        n_space = len(self.basis_owned[0])
        local = -self.basis_owned @ d_shape.array[:n_space]
        return W.mesh.comm.allreduce(local)

    def assemble_jacobian(self) -> None:
        """Assemble the Jacobian at the current state (call once per converged solve)."""
        self._jacobian.zeroEntries()
        assemble_matrix(self._jacobian, self.solver.jacobian_form, self.solver.bcs, diag=1.0)
        self._jacobian.assemble()

    def solve(self, rhs: PETSc.Vec, out: PETSc.Vec, transpose: bool, rtol: float = 1e-12) -> None:
        """out = J(w)⁻ᵀ rhs (`transpose`) or J(w)⁻¹ rhs, by iterative refinement with Newton's last
        factorisation as the approximate inverse and the Jacobian assembled at the state
        (`assemble_jacobian`). Constrained rows of `rhs` must be zero; those of `out` then are."""
        ksp = self.solver.snes.getKSP()
        apply_inverse = ksp.solveTranspose if transpose else ksp.solve
        apply_jacobian = self._jacobian.multTranspose if transpose else self._jacobian.mult
        apply_inverse(rhs, out)
        target = rtol * rhs.norm()
        for _ in range(10):
            apply_jacobian(out, self._work)
            self._work.aypx(-1.0, rhs)  # residual rhs − J out
            if self._work.norm() <= target:
                return
            apply_inverse(self._work, self._step)
            out.axpy(1.0, self._step)
        raise SolverError("refinement did not converge: the state is not a converged solution")

    def set_weight(self, values: np.ndarray) -> None:
        self.weight.x.array[:] = values
        self.weight.x.scatter_forward()

    def destroy(self) -> None:
        """Destroy the adjoint's PETSc vectors and matrix now (collective: see `FlowSolver.destroy`)."""
        for obj in (self._rhs, self._lam, self._work, self._step, self._jacobian):
            obj.destroy()

    def __del__(self):
        self.destroy()
