"""`FEMPhysics`: the finite-element implementation of `surrogates.physics.Physics` (serial, one process).

Residual and Jacobian are the ones Newton uses (SNES callbacks, Dirichlet rows `w − g` and identity), so
a state that the solver accepts has a residual of zero here too. States are expected to carry the
Dirichlet values (as POD reconstructions from solutions do); on that affine space J is the exact
derivative of R. Directions that change the constrained entries (`constrained`) are not.
"""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from shapeopt.errors import ShapeoptError, SolverError
from shapeopt.fem.problem import DragProblem


class FEMPhysics:
    """Physics of one `DragProblem`; moves its mesh to `s` and sets `Re` as each call asks."""

    def __init__(self, problem: DragProblem):
        if problem.flow_mesh.mesh.comm.size != 1:
            raise ValueError("FEMPhysics runs in one process; use one problem per worker")
        self.problem = problem
        solver = problem.solver
        self._snes = solver.snes
        self._x, self._f, self._y = (solver.new_vector() for _ in range(3))
        self._matrix = solver.new_matrix()
        self._ksp = PETSc.KSP().create(PETSc.COMM_SELF)
        self._ksp.setType("preonly")
        self._ksp.getPC().setType("lu")
        self._ksp.getPC().setFactorSolverType("mumps")
        self._key: tuple | None = None
        self.constrained = np.unique(np.concatenate([bc.dof_indices()[0] for bc in problem.solver.bcs]))

    def _at(self, s: np.ndarray, re: float, w: np.ndarray) -> None:
        s = np.asarray(s, dtype=float)
        if not np.array_equal(self.problem.morph.s, s):
            self.problem.move_to(s)
        self.problem.solver.set_reynolds(re)
        self._x.array[:] = w

    def _jacobian(self, s: np.ndarray, re: float, w: np.ndarray) -> PETSc.Mat:
        key = (np.asarray(s, dtype=float).tobytes(), float(re), np.asarray(w).tobytes())
        if key != self._key:
            self._at(s, re, w)
            self._snes.computeJacobian(self._x, self._matrix, self._matrix)
            self._ksp.setOperators(self._matrix)
            self._key = key
        return self._matrix

    def residual(self, s: np.ndarray, re: float, w: np.ndarray) -> np.ndarray:
        self._at(s, re, w)
        self._snes.computeFunction(self._x, self._f)
        return self._f.array.copy()

    def jacobian_product(self, s, re, w, v) -> np.ndarray:
        matrix = self._jacobian(s, re, w)
        self._x.array[:] = v
        matrix.mult(self._x, self._y)
        return self._y.array.copy()

    def jacobian_transpose_product(self, s, re, w, v) -> np.ndarray:
        matrix = self._jacobian(s, re, w)
        self._x.array[:] = v
        matrix.multTranspose(self._x, self._y)
        return self._y.array.copy()

    def reduced_jacobian(self, s, re, w, basis: np.ndarray) -> np.ndarray:
        columns = np.column_stack(
            [self.jacobian_product(s, re, w, basis[:, j]) for j in range(basis.shape[1])]
        )
        return basis.T @ columns

    def newton_step(self, s, re, w, damping: float | None = None, halvings: int = 6) -> np.ndarray:
        r = self.residual(s, re, w)
        self._jacobian(s, re, w)
        self._f.array[:] = r
        self._ksp.solve(self._f, self._y)
        step = -self._y.array.copy()
        if damping is not None:
            return damping * step
        norm = np.linalg.norm(r)
        alpha = 1.0
        for _ in range(halvings):  # backtracking on |R|: the full step unless it makes things worse
            if np.linalg.norm(self.residual(s, re, w + alpha * step)) < norm:
                break
            alpha /= 2
        return alpha * step

    def coefficients(self, s, re, w) -> np.ndarray:
        """The objective J and its bodies' C_L of the state w (2,): a dataset row's labels."""
        self._at(s, re, w)
        self.problem.solver.set_state(w)
        objective = self.problem.forces.objective()
        return np.array([objective.cd, objective.cl])

    def solution_from(self, s, re, w) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """The converged state of shape s at Re by Newton from the guess w, the objective J and its bodies'
        C_L (as a dataset row labels them), the adjoint dJ/ds (m,) and Newton's iterations from w (−1:
        Newton failed from w and was restarted from Stokes); None where the shape cannot be meshed or no
        solve converges."""
        problem = self.problem
        try:
            problem.move_to(np.asarray(s, dtype=float))
            try:
                report = problem.solver.solve(re=re, initial=np.asarray(w))
                iterations = -1 if report.continuation_steps else report.iterations
            except SolverError:
                problem.solver.solve(re=re)
                iterations = -1
            objective = problem.forces.objective()
            gradient = problem.adjoint.gradients()["cd"]
        except ShapeoptError:
            return None
        finally:
            self._key = None  # the solver's state and matrices have changed
        return problem.state(), np.array([objective.cd, objective.cl]), gradient, iterations

    def fresh_designs(self, seed: int, start: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Designs `start … start + n − 1` of the dataset design sequence of `seed`: s (n, m), Re (n,),
        admissible mask (n,)."""
        return self.problem.space.sobol_samples(n, seed, self.problem.case.re_bounds, start)

    def __del__(self):
        for obj in (self._x, self._f, self._y, self._matrix, self._ksp):
            obj.destroy()
