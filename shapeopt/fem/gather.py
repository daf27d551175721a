"""The distributed flow and body boundary gathered to rank 0 as plain arrays, for pictures.

Lengths in D (freestream) or m (dfg-channel); fields on the velocity's P2 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dolfinx import fem, plot
from dolfinx.mesh import entities_to_geometry

from shapeopt.fem.meshing import BODY, FlowMesh
from shapeopt.geometry.bodies import join_outlines


@dataclass
class GatheredFlow:
    """The whole flow on rank 0 as VTK arrays: cells (flat VTK connectivity), cell_types (c,), points
    (n, 3), and point fields `velocity` (n, 3; z = 0), `speed` (n,) and, when asked, `pressure` (n,)."""

    cells: np.ndarray
    cell_types: np.ndarray
    points: np.ndarray
    fields: dict[str, np.ndarray]


def gather_flow(u: fem.Function, p: fem.Function | None = None) -> GatheredFlow | None:
    """The flow `u` (and `p`, interpolated to the velocity's P2 nodes) on rank 0; None on other ranks."""
    V = u.function_space
    mesh = V.mesh
    owned_cells = np.arange(mesh.topology.index_map(mesh.topology.dim).size_local, dtype=np.int32)
    topology, cell_types, points = plot.vtk_mesh(V, owned_cells)
    velocity = u.x.array.reshape(-1, 2)
    fields = {
        "velocity": np.column_stack([velocity, np.zeros(len(velocity))]),
        "speed": np.linalg.norm(velocity, axis=1),
    }
    if p is not None:
        scalar_space, to_vector = V.sub(0).collapse()
        pressure = fem.Function(scalar_space)
        pressure.interpolate(p)
        fields["pressure"] = np.empty(len(velocity))
        fields["pressure"][np.asarray(to_vector) // 2] = pressure.x.array
    parts = mesh.comm.gather((topology, cell_types, points, fields), root=0)
    if mesh.comm.rank != 0:
        return None
    offset, topologies = 0, []
    for top, _, pts, _ in parts:
        top = top.reshape(-1, top[0] + 1).copy()
        top[:, 1:] += offset
        topologies.append(top.ravel())
        offset += len(pts)
    return GatheredFlow(
        cells=np.concatenate(topologies),
        cell_types=np.concatenate([part[1] for part in parts]),
        points=np.concatenate([part[2] for part in parts]),
        fields={name: np.concatenate([part[3][name] for part in parts]) for name in parts[0][3]},
    )


def body_outline(flow_mesh: FlowMesh) -> np.ndarray:
    """Closed polygon ((n+1, 2), ordered by angle about the body centre) through the body's mesh nodes;
    several bodies: one per body (its nodes those nearest its centre), a row of NaN between them."""
    mesh = flow_mesh.mesh
    fdim = mesh.topology.dim - 1
    mesh.topology.create_connectivity(fdim, mesh.topology.dim)
    nodes = entities_to_geometry(mesh, fdim, flow_mesh.facets.find(BODY))
    coords = mesh.geometry.x[nodes.ravel(), :2]
    gathered = mesh.comm.allgather(coords)
    points = np.unique(np.concatenate(gathered), axis=0)
    centres = np.asarray(flow_mesh.centers, dtype=float)
    owner = np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=2), axis=1)
    polygons = []
    for k, (x, y) in enumerate(centres):
        own = points[owner == k]
        own = own[np.argsort(np.arctan2(own[:, 1] - y, own[:, 0] - x))]
        polygons.append(np.vstack([own, own[:1]]))
    return join_outlines(polygons)
