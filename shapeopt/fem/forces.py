"""Drag and lift on the body, and point values of the pressure, reduced over MPI ranks.

Forces come from the weak residual: `F·e = −R((u, p); (φ_e, 0))`, with `φ_e = e` at the body's velocity
DOFs and 0 elsewhere, which converges faster than the surface integral of the traction. The surface
integral `F = −∫_Γ σ n ds` (n out of the fluid, `σ = −p I + ν(∇u + ∇uᵀ)`) is kept as a cross-check.
With several bodies each boundary DOF belongs to the body whose centre is nearest; the case's objective
(`cases.Objective`: the drag of every body or of one, plus a weighted lift) is the residual tested with
its own weights φ_J, which the adjoint uses as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem, geometry, la
from dolfinx.mesh import compute_midpoints

from shapeopt.cases import Objective
from shapeopt.fem.flow import FlowSolver
from shapeopt.fem.meshing import BODY


@dataclass(frozen=True)
class Coefficients:
    """Drag and lift coefficients `C = 2 F / (U² D)` (density 1)."""

    cd: float
    cl: float


class ForceEvaluator:
    """Computes force coefficients of the solver's current state: of all bodies together (`volume`), of
    each body at `centers` (`per_body`) and of the `objective` (`objective`)."""

    def __init__(
        self,
        solver: FlowSolver,
        centers: tuple[tuple[float, float], ...] = ((0.0, 0.0),),
        objective: Objective | None = None,
    ):
        self.solver = solver
        W, facets = solver.W, solver.flow_mesh.facets
        fdim = solver.flow_mesh.mesh.topology.dim - 1
        body_facets = facets.find(BODY)
        n_owned = W.dofmap.index_map.size_local * W.dofmap.index_map_bs
        self.body_dofs = []
        for component in range(2):
            dofs = fem.locate_dofs_topological(W.sub(0).sub(component), fdim, body_facets)
            self.body_dofs.append(dofs[dofs < n_owned])
        u, p = ufl.split(solver.w)
        n = ufl.FacetNormal(solver.flow_mesh.mesh)
        sigma = -p * ufl.Identity(2) + solver.nu * (ufl.grad(u) + ufl.grad(u).T)
        ds = ufl.Measure("ds", domain=solver.flow_mesh.mesh, subdomain_data=facets)
        self.scale, self.lift_scale = solver.flow.coefficient_scales(solver.diameter)
        if solver.revolution:  # the residual and the traction are per radian, weighted by r; no lift
            r = ufl.SpatialCoordinate(solver.flow_mesh.mesh)[1]
            self._surface = [fem.form(-ufl.dot(sigma, n)[0] * r * ds(BODY)), None]
        else:
            self._surface = [fem.form(-ufl.dot(sigma, n)[i] * ds(BODY)) for i in range(2)]
        points = self._velocity_points()
        self.centres = centres = np.asarray(centers, dtype=float)
        # owners[c][i]: the body (index into `centers`) of DOF body_dofs[c][i], whose centre is nearest
        self.owners = [
            np.argmin(np.linalg.norm(points[dofs][:, None, :] - centres[None], axis=2), axis=1)
            for dofs in self.body_dofs
        ]
        self.count = len(centres)
        self._parts: list[list[fem.Form]] | None = None  # the forms of `drag_parts`, built on first use
        self.weights = self._objective_weights(objective or Objective())

    def _objective_weights(self, objective: Objective) -> dict[str, np.ndarray]:
        """φ over the local DOFs of W: "cd" for the objective J = Σ_k (C_D,k + w C_L,k) over its bodies,
        "cl" for their lift."""
        selected = [
            dofs[(owners == objective.body - 1) if objective.body else slice(None)]
            for dofs, owners in zip(self.body_dofs, self.owners, strict=True)
        ]
        drag, lift = (np.zeros(len(self.solver.w.x.array)) for _ in range(2))
        drag[selected[0]] = self.scale
        drag[selected[1]] += objective.lift_weight * self.lift_scale
        lift[selected[1]] = self.lift_scale
        return {"cd": drag, "cl": lift}

    def volume(self) -> Coefficients:
        """Coefficients of all bodies together from the weak residual (the accurate ones)."""
        residual = self._residual()
        comm = self.solver.flow_mesh.mesh.comm
        force = [-comm.allreduce(float(np.sum(residual[dofs]))) for dofs in self.body_dofs]
        return Coefficients(cd=self.scale * force[0], cl=self.lift_scale * force[1])

    def objective(self) -> Coefficients:
        """The objective J as `cd` and the lift of its bodies as `cl` (weights `self.weights`)."""
        residual = self._residual()
        comm = self.solver.flow_mesh.mesh.comm
        values = [-comm.allreduce(float(residual @ self.weights[name])) for name in ("cd", "cl")]
        return Coefficients(cd=values[0], cl=values[1])

    def per_body(self) -> list[Coefficients]:
        """The volume-form coefficients of each body (its boundary DOFs those nearest its centre): one
        `Coefficients` per centre, summing to `volume()`."""
        residual = self._residual()
        comm = self.solver.flow_mesh.mesh.comm
        result = []
        for k in range(self.count):
            force = [
                -comm.allreduce(float(np.sum(residual[dofs[owners == k]])))
                for dofs, owners in zip(self.body_dofs, self.owners, strict=True)
            ]
            result.append(Coefficients(cd=self.scale * force[0], cl=self.lift_scale * force[1]))
        return result

    def _residual(self) -> np.ndarray:
        """The weak residual R(w; ·) of the current state over the local DOFs."""
        residual = fem.assemble_vector(self.solver.residual)
        residual.scatter_reverse(la.InsertMode.add)
        return residual.array

    def _velocity_points(self) -> np.ndarray:
        """(n_W, 2) coordinates of every local velocity DOF of the mixed space (pressure rows: zeros)."""
        solver = self.solver
        nodes = solver.V.tabulate_dof_coordinates()[:, :2]  # one row per node; a node holds 2 DOFs
        points = np.zeros((len(solver.w.x.array), 2))
        points[np.asarray(solver.V_to_W)] = np.repeat(nodes, solver.V.dofmap.index_map_bs, axis=0)
        return points

    def drag_parts(self) -> list[tuple[float, float]]:
        """Pressure and viscous parts of each body's C_D: the surface integrals of p n_x and
        −ν((∇u + ∇uᵀ)n)_x over its boundary (n out of the fluid; the body of each boundary facet that of
        its cell's midpoint's nearest centre). Planar bodies only. One (pressure, viscous) per body."""
        if self._parts is None:
            mesh = self.solver.flow_mesh.mesh
            cells = np.arange(mesh.topology.index_map(2).size_local + mesh.topology.index_map(2).num_ghosts)
            middle = compute_midpoints(mesh, 2, cells.astype(np.int32))[:, :2]
            owner = np.argmin(np.linalg.norm(middle[:, None] - self.centres[None], axis=2), axis=1)
            u, p = ufl.split(self.solver.w)
            n = ufl.FacetNormal(mesh)
            ds = ufl.Measure("ds", domain=mesh, subdomain_data=self.solver.flow_mesh.facets)
            traction = (p * n[0], -self.solver.nu * ufl.dot(ufl.grad(u) + ufl.grad(u).T, n)[0])
            self._parts = []
            for k in range(self.count):
                indicator = fem.Function(fem.functionspace(mesh, ("DG", 0)))
                indicator.x.array[:] = (owner == k).astype(float)
                self._parts.append([fem.form(indicator * part * ds(BODY)) for part in traction])
        comm = self.solver.flow_mesh.mesh.comm
        return [
            tuple(self.scale * comm.allreduce(fem.assemble_scalar(form)) for form in forms)
            for forms in self._parts
        ]

    def surface(self) -> Coefficients:
        """Coefficients from the surface integral of the traction (cross-check)."""
        comm = self.solver.flow_mesh.mesh.comm
        force = [0.0 if form is None else comm.allreduce(fem.assemble_scalar(form)) for form in self._surface]
        return Coefficients(cd=self.scale * force[0], cl=self.scale * force[1])


def evaluate_points(function: fem.Function, points: np.ndarray) -> np.ndarray:
    """Values of a scalar `function` at `points` ((n, 2) array), identical on every rank."""
    mesh = function.function_space.mesh
    points3 = np.zeros((len(points), 3))
    points3[:, :2] = points
    tree = geometry.bb_tree(mesh, mesh.topology.dim)
    candidates = geometry.compute_collisions_points(tree, points3)
    colliding = geometry.compute_colliding_cells(mesh, candidates, points3)
    found = np.zeros(len(points), dtype=bool)
    values = np.zeros(len(points))
    for i in range(len(points)):
        cells = colliding.links(i)
        if len(cells) > 0:
            values[i] = function.eval(points3[i], cells[:1])[0]
            found[i] = True
    comm = mesh.comm
    all_found = comm.allgather(found)
    all_values = comm.allgather(values)
    result = np.full(len(points), np.nan)
    for rank_found, rank_values in zip(reversed(all_found), reversed(all_values), strict=True):
        result[rank_found] = rank_values[rank_found]
    return result
