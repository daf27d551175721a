"""The reduced Hessian `d²C_D/ds²` (m, m) of the converged state, by tangent-linear solves.

With the Lagrangian of the adjoint (`shapeopt.fem.adjoint`), `L(w, X) = −R(w, X; μ)`, μ = φ + λ fixed at the
solution, and the mesh linear in s (`X = X₀ + D s`, D the (n_X, m) basis displacements):

    J W = −(∂R/∂X) D                      (tangent-linear solves, W (n_w, m), zero on constrained rows)
    d²C/ds² = −[Dᵀ K_XX D + Wᵀ K_wX D + (Wᵀ K_wX D)ᵀ + Wᵀ K_ww W],

`K_ab = ∂²R(w, X; μ)/∂a∂b` assembled as matrices (UFL derivatives in the state and the SpatialCoordinate).
The m solves reuse Newton's last LU factorisation with iterative refinement (`ShapeGradient.solve`), so
the whole Hessian costs m back-substitutions and four assemblies: no new factorisation.
"""

from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import assemble_matrix
from petsc4py import PETSc

from shapeopt.fem.adjoint import ShapeGradient


class ShapeHessian:
    """d²C_D/ds² (m, m) at the state whose adjoint gradients `gradient` computed last."""

    def __init__(self, gradient: ShapeGradient):
        self.gradient = gradient
        solver, space = gradient.solver, gradient.morph.space
        W = solver.W
        coordinates = ufl.SpatialCoordinate(W.mesh)
        (test,) = solver.residual_form.arguments()
        weighted = ufl.replace(solver.residual_form, {test: gradient.weight})
        d_state = ufl.derivative(weighted, solver.w, ufl.TestFunction(W))
        d_shape = ufl.derivative(weighted, coordinates, ufl.TestFunction(space))
        forms = {
            "shape_jacobian": ufl.derivative(solver.residual_form, coordinates, ufl.TrialFunction(space)),
            "state_state": ufl.derivative(d_state, solver.w, ufl.TrialFunction(W)),
            "state_shape": ufl.derivative(d_state, coordinates, ufl.TrialFunction(space)),
            "shape_shape": ufl.derivative(d_shape, coordinates, ufl.TrialFunction(space)),
        }
        self._forms = {name: fem.form(form) for name, form in forms.items()}
        self._matrices: dict[str, PETSc.Mat] = {}

    def _assemble(self) -> dict[str, PETSc.Mat]:
        for name, form in self._forms.items():
            if name in self._matrices:
                self._matrices[name].zeroEntries()
                assemble_matrix(self._matrices[name], form)
            else:
                self._matrices[name] = assemble_matrix(form)
            self._matrices[name].assemble()
        return self._matrices

    def hessian(self) -> np.ndarray:
        """d²C_D/ds² (m, m), symmetric, at the current state. Call after `ShapeGradient.gradients()` at
        that state (its Jacobian and C_D's multiplier μ are used)."""
        gradient = self.gradient
        gradient.set_weight(gradient.multipliers["cd"])
        matrices = self._assemble()
        shape_vectors = [self._shape_vector(d) for d in gradient.basis_owned]
        tangents = [self._tangent(matrices["shape_jacobian"], d) for d in shape_vectors]
        D = gradient.basis_owned  # (m, n_X owned)
        W = np.stack([t.array for t in tangents])  # (m, n_w owned)
        KxxD = np.stack([self._apply(matrices["shape_shape"], d) for d in shape_vectors])
        KwxD = np.stack([self._apply(matrices["state_shape"], d) for d in shape_vectors])
        KwwW = np.stack([self._apply(matrices["state_state"], t) for t in tangents])
        mixed = W @ KwxD.T
        local = D @ KxxD.T + mixed + mixed.T + W @ KwwW.T
        hessian = -gradient.solver.W.mesh.comm.allreduce(local)
        for vector in (*shape_vectors, *tangents):
            vector.destroy()
        return 0.5 * (hessian + hessian.T)

    def _shape_vector(self, owned: np.ndarray) -> PETSc.Vec:
        vector = self._matrices["shape_shape"].createVecRight()
        vector.array[:] = owned
        return vector

    def _tangent(self, shape_jacobian: PETSc.Mat, direction: PETSc.Vec) -> PETSc.Vec:
        """The state's derivative along the shape `direction`: J⁻¹ (−∂R/∂X direction), 0 on constrained
        rows."""
        gradient = self.gradient
        rhs = gradient.solver.new_vector()
        shape_jacobian.mult(direction, rhs)
        rhs.scale(-1.0)
        n_owned = rhs.getLocalSize()
        rhs.array[gradient.constrained[gradient.constrained < n_owned]] = 0.0
        tangent = gradient.solver.new_vector()
        gradient.solve(rhs, tangent, transpose=False)
        rhs.destroy()
        return tangent

    @staticmethod
    def _apply(matrix: PETSc.Mat, vector: PETSc.Vec) -> np.ndarray:
        """The owned part of matrix @ vector."""
        out = matrix.createVecLeft()
        matrix.mult(vector, out)
        values = out.array.copy()
        out.destroy()
        return values

    def destroy(self) -> None:
        """Destroy the assembled matrices now (collective: see `FlowSolver.destroy`)."""
        for matrix in self._matrices.values():
            matrix.destroy()
        self._matrices.clear()
