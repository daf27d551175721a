"""Mesh morphing: `X(s) = X₀ + Σ_i s_i d_i`, one reference mesh for every shape.

The body is r(θ; s) = r₀ (1 + φ(θ)·s) about its centre; the reference mesh fits the circle r₀. A point at
polar (r, θ) of the reference moves radially to ρ = r + w(r) (r(θ; s) − r₀), with w = 1 on the body
falling smoothly to 0 at the map radius R (`geometry.radial_map.RadialMap`). So
`d_i(x) = w(r) r₀ φ_i(θ) e(θ)`, exact and linear in s, and the map stays one-to-one for every
star-shaped body inside `RadialMap.max_body_radius`: ∂ρ/∂r ≥ 1 − max|w'| (r(θ; s) − r₀) > 0. Large
deformations (slender bodies with sharp tips) therefore keep one DOF layout for all shapes, which the
adjoint (∂X/∂s_i = d_i), the constraints and the learning side's states all rely on. Several bodies
(`BodyShapes`) each move the mesh about their own centre, their maps ending short of the nearest other
body (`FlowConfiguration.map_radii`), so the displacements add. The case's design space
(`space.design_space`), built on the morph's discrete bodies, says which shapes the map holds.

A mesh generated for a shape s_m (`fitted`; `DragProblem.remesh`) is mapped the same way with w = 1 on
that body, r(θ; s_m), so the boundary moves by r(θ; s) − r(θ; s_m): the nodes are stored moved back by
B s_m, and X(s) = (X_m − B s_m) + B s keeps the form above, linear in s with the same meaning of s.
"""

from __future__ import annotations

import basix.ufl
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.mesh import entities_to_geometry
from mpi4py import MPI

from shapeopt.cases import Case
from shapeopt.designs import body_shape
from shapeopt.errors import MeshQualityError, ReachError, ShapeError
from shapeopt.fem.meshing import BODY, FlowMesh
from shapeopt.flows.freestream import MAP_CLEARANCE
from shapeopt.geometry.bodies import BodyShapes
from shapeopt.geometry.discrete_body import DiscreteBody, orient_edges
from shapeopt.geometry.radial_map import RadialMap
from shapeopt.space import DesignSpace, design_space
from shapeopt.space.base import design_text
from shapeopt.space.radial import REACH_ANGLES

# Points of the reference triangle where the Jacobian determinant is compared (vertices, mid-edges, centre).
_QUALITY_POINTS = np.array([[0, 0], [1, 0], [0, 1], [0.5, 0], [0.5, 0.5], [0, 0.5], [1 / 3, 1 / 3]])


def map_radii_for(case: Case, fitted: np.ndarray) -> list[float]:
    """Each body's map radius on a mesh generated for the design `fitted` (m,): the flow configuration's
    (`map_radii`: short of the other bodies' reference circles), and with several bodies also
    `MAP_CLEARANCE` short of the other bodies' outlines r(θ; fitted), so that no body's boundary moves
    with another body's parameters."""
    radii = list(case.domain.flow.map_radii(case.domain))
    shape = body_shape(case)
    if not isinstance(shape, BodyShapes) or not np.any(fitted):
        return radii
    outlines = [
        part.outline_at(REACH_ANGLES, fitted[block])
        for part, block in zip(shape.shapes, shape.blocks, strict=True)
    ]
    for k, part in enumerate(shape.shapes):
        for j, outline in enumerate(outlines):
            if j != k:
                nearest = float(np.min(np.linalg.norm(outline - np.asarray(part.center), axis=1)))
                radii[k] = min(radii[k], nearest - MAP_CLEARANCE)
    return radii


class MeshMorph:
    """Owns the reference coordinates and the basis displacements of the case's mesh for its body's shape
    (`cases.body_shape`: a `RadialShape`, or several bodies' `BodyShapes`), each body's map radius its
    flow configuration's, and the case's design space `design_space` on the mesh's discrete bodies."""

    def __init__(self, flow_mesh: FlowMesh, case: Case, fitted: np.ndarray | None = None):
        shape = body_shape(case)
        self.case, self.flow_mesh, self.shape, self.min_quality = (
            case,
            flow_mesh,
            shape,
            case.shape.min_quality,
        )
        several = isinstance(shape, BodyShapes)
        self.parts = shape.shapes if several else (shape,)  # one RadialShape per body
        self.blocks = shape.blocks if several else (slice(0, shape.size),)  # their parameters in s
        self.fitted = np.zeros(shape.size) if fitted is None else np.asarray(fitted, dtype=float).copy()
        self.map_radii = map_radii_for(case, self.fitted)
        mesh = flow_mesh.mesh
        self.reference = mesh.geometry.x.copy()
        degree = mesh.geometry.cmaps[0].degree
        self.space = fem.functionspace(
            mesh, basix.ufl.element("Lagrange", mesh.basix_cell(), degree, shape=(2,))
        )
        # Geometry node -> dof of `space` (same element, same local ordering per cell).
        self.node_dofs = np.empty(len(self.reference), dtype=np.int32)
        self.node_dofs[mesh.geometry.dofmaps[0].ravel()] = self.space.dofmap.list.ravel()
        self.maps = [
            RadialMap(part.r0, radius) for part, radius in zip(self.parts, self.map_radii, strict=True)
        ]
        self.fields = self._radial_basis()  # (m, n_local_dofs * 2) arrays on `space`
        self.basis = np.stack(
            [f.reshape(-1, 2)[self.node_dofs] for f in self.fields], axis=-1
        )  # (n_nodes, 2, m)
        # The mesh holds the shape `fitted`: X(s) = X(fitted) + B (s − fitted) = reference + B s, with the
        # reference the nodes moved back to the circle (on the body exactly; elsewhere a virtual layout).
        self.reference[:, :2] -= self.basis @ self.fitted
        n_cells = mesh.topology.index_map(2).size_local
        self._cells = np.arange(n_cells, dtype=np.int32)
        self._jacobian = fem.Expression(ufl.JacobianDeterminant(mesh), _QUALITY_POINTS)
        self._reference_jacobian = self._jacobian.eval(mesh, self._cells)
        self.bodies = self._discrete_bodies()
        reach = [radial_map.max_body_radius for radial_map in self.maps]
        self.design_space: DesignSpace = design_space(case, self.bodies, reach, self._reach_limits())
        self.s = self.fitted.copy()

    @property
    def regenerated(self) -> bool:
        """Whether the mesh was generated for a shape other than the circle (`fitted` ≠ 0)."""
        return bool(np.any(self.fitted != 0))

    def _reach_limits(self) -> list[np.ndarray] | None:
        """Per body, how far it may reach in each direction of `REACH_ANGLES` (2048,) on a mesh generated
        for `fitted` (`RadialMap.reach` from that body's radius there): further than on the reference mesh
        where the fitted body already reaches out; None on the reference mesh (`max_body_radius`)."""
        if not self.regenerated:
            return None
        return [
            radial_map.reach(part.radius(REACH_ANGLES, self.fitted[block]))
            for part, block, radial_map in zip(self.parts, self.blocks, self.maps, strict=True)
        ]

    def beyond_any_map(self, s: np.ndarray) -> str | None:
        """Why no mesh could hold the design s (m,) with these maps: a body that is not a simple curve
        (`DesignSpace.simple`), or one reaching its map's radius R on a mesh generated for s
        (`map_radii_for`) somewhere, which would leave no room for its map; None where such a mesh may
        hold it."""
        if not self.design_space.simple(s):
            return self.design_space.unmappable(s)
        radii = map_radii_for(self.case, s)
        for k, (part, block, radius) in enumerate(zip(self.parts, self.blocks, radii, strict=True)):
            reach = float(np.max(part.radius(REACH_ANGLES, s[block])))
            if reach >= radius:
                label = f"body {k + 1} of " if len(self.parts) > 1 else ""
                return (
                    f"{label}shape s={design_text(s)} reaches {reach:.3g} D from its centre, as far as its "
                    f"mesh map ({radius:.3g} D, {MAP_CLEARANCE:g} D short of the nearest other body)"
                )
        return None

    def _radial_basis(self) -> list[np.ndarray]:
        """d_i(x) = w(r, θ) r₀ φ_i(θ) e(θ) at every DOF of `space`, (r, θ) polar about the centre of the
        body that parameter i shapes; w is 1 on the body the mesh fits (r = r(θ; fitted)) and 0 at the map
        radius, so the map moves the boundary by r(θ; s) − r(θ; fitted)."""
        points = self.space.tabulate_dof_coordinates()[:, :2]
        displacement = np.zeros((len(points), 2, self.shape.size))
        for part, block, radial_map in zip(self.parts, self.blocks, self.maps, strict=True):
            offset = points - np.asarray(part.center)
            theta = np.arctan2(offset[:, 1], offset[:, 0])
            weights = radial_map.weight(
                np.linalg.norm(offset, axis=1), part.radius(theta, self.fitted[block])
            )
            displacement[:, :, block] = part.displacement_basis(points) * weights[:, None, None]
        return [np.ascontiguousarray(displacement[:, :, i]).reshape(-1) for i in range(self.shape.size)]

    def _discrete_bodies(self) -> list[DiscreteBody]:
        """Per body, its edges with their own copies of node positions and of the basis rows of its own
        parameters, gathered on every rank; an edge belongs to the body whose centre is nearest."""
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
        centres = np.array([part.center for part in self.parts], dtype=float)
        owner = np.argmin(np.linalg.norm(positions[edges[:, 0], None] - centres[None], axis=2), axis=1)
        bodies = []
        for k, (centre, block) in enumerate(zip(centres, self.blocks, strict=True)):
            nodes = np.unique(edges[owner == k])
            renumber = np.full(len(positions), -1)
            renumber[nodes] = np.arange(len(nodes))
            own = orient_edges(positions[nodes], renumber[edges[owner == k]], centre)
            bodies.append(DiscreteBody(positions[nodes], basis[nodes][:, :, block], own))
        return bodies

    def apply(self, s: np.ndarray) -> float:
        """Move the mesh to shape `s`; return its quality. Refuses (ShapeError) a shape that degrades it."""
        s = np.asarray(s, dtype=float)
        problem = self.design_space.unmappable(s)
        if problem is not None:
            raise (ReachError if self.design_space.simple(s) else ShapeError)(problem)
        mesh = self.flow_mesh.mesh
        previous = mesh.geometry.x.copy()
        mesh.geometry.x[:, :2] = self.reference[:, :2] + self.basis @ s
        quality = self.quality()
        if not quality >= self.min_quality:
            mesh.geometry.x[:] = previous
            raise MeshQualityError(
                f"shape s={design_text(s)} distorts the mesh: min scaled Jacobian {quality:.3f} "
                f"(relative to the mesh as generated) is below {self.min_quality}; the optimizers "
                "regenerate the mesh for their current shape and go on",
                quality,
            )
        self.s = s.copy()
        return quality

    def quality(self) -> float:
        """Minimum over cells and sample points of det J(s) / det J(as generated); ≤ 0 means inverted."""
        local = np.min(self._jacobian.eval(self.flow_mesh.mesh, self._cells) / self._reference_jacobian)
        return self.flow_mesh.mesh.comm.allreduce(float(local), op=MPI.MIN)
