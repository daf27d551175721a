"""Mesh morphing: `X(s) = X₀ + Σ_i s_i d_i`, one reference mesh for every shape.

Each `d_i` extends the boundary displacement of parameter `i` (radial, on the body; zero on the outer
boundary) into the fluid by linear elasticity whose stiffness is the inverse cell area, so small cells
near the body move almost rigidly. The `d_i` are solved once with one LU factorisation. The DOF layout of
every function space is the same for all shapes.
"""

from __future__ import annotations

import basix.ufl
import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx.fem.petsc import apply_lifting, assemble_matrix, create_vector, set_bc
from dolfinx.mesh import entities_to_geometry
from mpi4py import MPI
from petsc4py import PETSc

from shapeopt.errors import ShapeError
from shapeopt.fem.meshing import BODY, INLET, OUTLET, WALLS, FlowMesh
from shapeopt.geometry.discrete_body import DiscreteBody, orient_edges
from shapeopt.geometry.shapes import RadialShape

# Points of the reference triangle where the Jacobian determinant is compared (vertices, mid-edges, centre).
_QUALITY_POINTS = np.array([[0, 0], [1, 0], [0, 1], [0.5, 0], [0.5, 0.5], [0, 0.5], [1 / 3, 1 / 3]])


class MeshMorph:
    """Owns the reference coordinates and the basis displacements of a mesh for a `RadialShape`."""

    def __init__(self, flow_mesh: FlowMesh, shape: RadialShape, min_quality: float = 0.1):
        self.flow_mesh, self.shape, self.min_quality = flow_mesh, shape, min_quality
        mesh = flow_mesh.mesh
        self.reference = mesh.geometry.x.copy()
        degree = mesh.geometry.cmaps[0].degree
        self.space = fem.functionspace(
            mesh, basix.ufl.element("Lagrange", mesh.basix_cell(), degree, shape=(2,))
        )
        # Geometry node -> dof of `space` (same element, same local ordering per cell).
        self.node_dofs = np.empty(len(self.reference), dtype=np.int32)
        self.node_dofs[mesh.geometry.dofmaps[0].ravel()] = self.space.dofmap.list.ravel()
        self.fields = self._solve_basis()  # (m, n_local_dofs * 2) arrays on `space`
        self.basis = np.stack(
            [f.reshape(-1, 2)[self.node_dofs] for f in self.fields], axis=-1
        )  # (n_nodes, 2, m)
        n_cells = mesh.topology.index_map(2).size_local
        self._cells = np.arange(n_cells, dtype=np.int32)
        self._jacobian = fem.Expression(ufl.JacobianDeterminant(mesh), _QUALITY_POINTS)
        self._reference_jacobian = self._jacobian.eval(mesh, self._cells)
        self.body = self._discrete_body()
        self.s = np.zeros(shape.size)

    def _solve_basis(self) -> list[np.ndarray]:
        mesh, facets = self.flow_mesh.mesh, self.flow_mesh.facets
        V = self.space
        areas = fem.Function(fem.functionspace(mesh, ("DG", 0)))
        areas.x.array[:] = fem.assemble_vector(
            fem.form(ufl.TestFunction(areas.function_space) * ufl.dx)
        ).array
        stiffness = 1.0 / areas
        d, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        strain = ufl.sym(ufl.grad(d))
        a = fem.form(
            stiffness * (2 * ufl.inner(strain, ufl.sym(ufl.grad(v))) + ufl.div(d) * ufl.div(v)) * ufl.dx
        )
        fdim = mesh.topology.dim - 1
        outer = np.concatenate([facets.find(m) for m in (INLET, OUTLET, WALLS)])
        zero = fem.Function(V)
        fixed = fem.dirichletbc(zero, fem.locate_dofs_topological(V, fdim, outer))
        body_dofs = fem.locate_dofs_topological(V, fdim, facets.find(BODY))
        boundary = fem.Function(V)
        moving = fem.dirichletbc(boundary, body_dofs)
        bcs = [fixed, moving]

        A = assemble_matrix(a, bcs=bcs)
        A.assemble()
        ksp = PETSc.KSP().create(mesh.comm)
        ksp.setOperators(A)
        ksp.setType("preonly")
        ksp.getPC().setType("lu")
        ksp.getPC().setFactorSolverType("mumps")
        body_points = V.tabulate_dof_coordinates()[body_dofs]
        displacement = self.shape.displacement_basis(body_points)  # (n_body, 2, m)
        b = create_vector(V)
        solution = fem.Function(V)
        x = la.petsc.create_vector_wrap(solution.x)
        fields = []
        for i in range(self.shape.size):
            boundary.x.array.reshape(-1, 2)[body_dofs] = displacement[:, :, i]
            with b.localForm() as local:
                local.set(0.0)
            apply_lifting(b, [a], bcs=[bcs])
            b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            set_bc(b, bcs)
            ksp.solve(b, x)
            solution.x.scatter_forward()
            fields.append(solution.x.array.copy())
        b.destroy()
        ksp.destroy()
        A.destroy()
        return fields

    def _discrete_body(self) -> DiscreteBody:
        """Body edges with their own copies of node positions and basis rows, gathered on every rank."""
        mesh = self.flow_mesh.mesh
        fdim = mesh.topology.dim - 1
        n_owned = mesh.topology.index_map(fdim).size_local
        facets = self.flow_mesh.facets.find(BODY)
        facets = facets[facets < n_owned]
        # dolfinx orders an edge's geometry nodes as (start, end, middle).
        nodes = entities_to_geometry(mesh, fdim, facets).reshape(-1)
        local = (self.reference[nodes, :2], self.basis[nodes])
        gathered = mesh.comm.allgather(local)
        positions = np.concatenate([g[0] for g in gathered])
        basis = np.concatenate([g[1] for g in gathered])
        edges = np.arange(len(positions)).reshape(-1, 3)
        edges = orient_edges(positions, edges, np.asarray(self.shape.center))
        return DiscreteBody(positions, basis, edges)

    def apply(self, s: np.ndarray) -> float:
        """Move the mesh to shape `s`; return its quality. Refuses (ShapeError) a shape that degrades it."""
        s = np.asarray(s, dtype=float)
        ratio = self.shape.min_radius_ratio(s)
        if ratio <= 0.05:
            raise ShapeError(f"shape s={_short(s)} is not a simple curve (min r/r0 = {ratio:.3f})")
        mesh = self.flow_mesh.mesh
        previous = mesh.geometry.x.copy()
        mesh.geometry.x[:, :2] = self.reference[:, :2] + self.basis @ s
        quality = self.quality()
        if not quality >= self.min_quality:
            mesh.geometry.x[:] = previous
            raise ShapeError(
                f"shape s={_short(s)} distorts the mesh: min scaled Jacobian {quality:.3f} "
                f"(relative to the reference) is below {self.min_quality}"
            )
        self.s = s.copy()
        return quality

    def quality(self) -> float:
        """Minimum over cells and sample points of det J(s) / det J(reference); ≤ 0 means inverted."""
        local = np.min(self._jacobian.eval(self.flow_mesh.mesh, self._cells) / self._reference_jacobian)
        return self.flow_mesh.mesh.comm.allreduce(float(local), op=MPI.MIN)


def _short(s: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in s) + "]"
