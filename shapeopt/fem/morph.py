"""Mesh morphing: `X(s) = X₀ + Σ_i s_i d_i`, one reference mesh for every shape.

The body is r(θ; s) = r₀ (1 + φ(θ)·s) about its centre; the reference mesh fits the circle r₀. A point at
polar (r, θ) of the reference moves radially to ρ = r + w(r) (r(θ; s) − r₀), with w = 1 on the body
falling smoothly to 0 at the map radius R (`RadialMap`). So `d_i(x) = w(r) r₀ φ_i(θ) e(θ)`, exact and
linear in s, and the map stays one-to-one for every star-shaped body inside `RadialMap.max_body_radius`:
∂ρ/∂r ≥ 1 − max|w'| (r(θ; s) − r₀) > 0. Large deformations (slender bodies with sharp tips) therefore
keep one DOF layout for all shapes, which the adjoint (∂X/∂s_i = d_i), the constraints and the learning
side's states all rely on. Several bodies (`BodyShapes`) each move the mesh about their own centre, their
maps ending halfway to the nearest other body (`cases.map_radii`), so the displacements add.
"""

from __future__ import annotations

from collections.abc import Sequence

import basix.ufl
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.mesh import entities_to_geometry
from mpi4py import MPI

from shapeopt.cases import max_body_radius
from shapeopt.errors import ShapeError
from shapeopt.fem.meshing import BODY, FlowMesh
from shapeopt.geometry.bodies import BodyShapes
from shapeopt.geometry.discrete_body import DiscreteBody, orient_edges
from shapeopt.geometry.shapes import RadialShape
from shapeopt.space.base import MIN_RADIUS_RATIO

# Points of the reference triangle where the Jacobian determinant is compared (vertices, mid-edges, centre).
_QUALITY_POINTS = np.array([[0, 0], [1, 0], [0, 1], [0.5, 0], [0.5, 0.5], [0, 0.5], [1 / 3, 1 / 3]])


class RadialMap:
    """Weight w(r) = (1 − t)² (1 + 2t), t = (r − r₀)/(R − r₀) clipped to [0, 1]: w(r₀) = 1, w(R) = 0, and
    w' = 0 at both ends (the near-body cell layer keeps its thickness). Lengths in D."""

    def __init__(self, r0: float, radius: float):
        if not radius > r0:
            raise ValueError(f"map radius {radius} must exceed the reference radius {r0}")
        self.r0, self.radius = r0, radius

    def weight(self, r: np.ndarray) -> np.ndarray:
        """w at radii r (n,)."""
        t = np.clip((np.asarray(r) - self.r0) / (self.radius - self.r0), 0.0, 1.0)
        return (1 - t) ** 2 * (1 + 2 * t)

    @property
    def max_body_radius(self) -> float:
        """Bodies reaching less far than this keep ∂ρ/∂r ≥ 1/4 (`cases.max_body_radius`)."""
        return max_body_radius(self.r0, self.radius)


class MeshMorph:
    """Owns the reference coordinates and the basis displacements of a mesh for a `RadialShape`, or for
    several bodies' (`BodyShapes`, `map_radii` one per body)."""

    def __init__(
        self,
        flow_mesh: FlowMesh,
        shape: RadialShape | BodyShapes,
        min_quality: float = 0.1,
        map_radii: Sequence[float] = (5.0,),
    ):
        self.flow_mesh, self.shape, self.min_quality = flow_mesh, shape, min_quality
        several = isinstance(shape, BodyShapes)
        self.parts = shape.shapes if several else (shape,)  # one RadialShape per body
        self.blocks = shape.blocks if several else (slice(0, shape.size),)  # their parameters in s
        mesh = flow_mesh.mesh
        self.reference = mesh.geometry.x.copy()
        degree = mesh.geometry.cmaps[0].degree
        self.space = fem.functionspace(
            mesh, basix.ufl.element("Lagrange", mesh.basix_cell(), degree, shape=(2,))
        )
        # Geometry node -> dof of `space` (same element, same local ordering per cell).
        self.node_dofs = np.empty(len(self.reference), dtype=np.int32)
        self.node_dofs[mesh.geometry.dofmaps[0].ravel()] = self.space.dofmap.list.ravel()
        self.maps = [RadialMap(part.r0, radius) for part, radius in zip(self.parts, map_radii, strict=True)]
        self.fields = self._radial_basis()  # (m, n_local_dofs * 2) arrays on `space`
        self.basis = np.stack(
            [f.reshape(-1, 2)[self.node_dofs] for f in self.fields], axis=-1
        )  # (n_nodes, 2, m)
        n_cells = mesh.topology.index_map(2).size_local
        self._cells = np.arange(n_cells, dtype=np.int32)
        self._jacobian = fem.Expression(ufl.JacobianDeterminant(mesh), _QUALITY_POINTS)
        self._reference_jacobian = self._jacobian.eval(mesh, self._cells)
        self.bodies = self._discrete_bodies()
        self.s = np.zeros(shape.size)

    def _radial_basis(self) -> list[np.ndarray]:
        """d_i(x) = w(r) r₀ φ_i(θ) e(θ) at every DOF of `space`, (r, θ) polar about the centre of the body
        that parameter i shapes."""
        points = self.space.tabulate_dof_coordinates()[:, :2]
        displacement = np.zeros((len(points), 2, self.shape.size))
        for part, block, radial_map in zip(self.parts, self.blocks, self.maps, strict=True):
            weights = radial_map.weight(np.linalg.norm(points - np.asarray(part.center), axis=1))
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
        for k, (part, block, radial_map) in enumerate(zip(self.parts, self.blocks, self.maps, strict=True)):
            body = f"body {k + 1} of " if len(self.parts) > 1 else ""
            ratio = part.min_radius_ratio(s[block])
            if ratio <= MIN_RADIUS_RATIO:
                raise ShapeError(f"{body}shape s={_short(s)} is not a simple curve (min r/r0 = {ratio:.3f})")
            reach = part.max_radius_ratio(s[block]) * part.r0
            if reach >= radial_map.max_body_radius:
                raise ShapeError(
                    f"{body}shape s={_short(s)} reaches {reach:.3g} D from its centre; the mesh map holds "
                    f"bodies up to {radial_map.max_body_radius:.3g} D"
                )
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
