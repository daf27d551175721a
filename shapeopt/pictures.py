"""Off-screen PyVista pictures of a flow field with the body outline.

The distributed field is gathered to rank 0, which renders; other ranks return without drawing.
"""

from __future__ import annotations

from pathlib import Path

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
from dolfinx import fem, plot
from dolfinx.mesh import entities_to_geometry

from shapeopt.meshing import BODY, FlowMesh


def gather_velocity_grid(u: fem.Function):
    """Velocity on rank 0 as a PyVista grid with point data `speed` (|u|); None on other ranks."""
    import pyvista as pv

    V = u.function_space
    mesh = V.mesh
    owned_cells = np.arange(mesh.topology.index_map(mesh.topology.dim).size_local, dtype=np.int32)
    topology, cell_types, points = plot.vtk_mesh(V, owned_cells)
    speed = np.linalg.norm(u.x.array.reshape(-1, 2), axis=1)
    parts = mesh.comm.gather((topology, cell_types, points, speed), root=0)
    if mesh.comm.rank != 0:
        return None
    offset, topologies = 0, []
    for top, _, pts, _ in parts:
        top = top.reshape(-1, top[0] + 1).copy()
        top[:, 1:] += offset
        topologies.append(top.ravel())
        offset += len(pts)
    grid = pv.UnstructuredGrid(
        np.concatenate(topologies),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )
    grid.point_data["speed"] = np.concatenate([p[3] for p in parts])
    return grid


def body_outline(flow_mesh: FlowMesh) -> np.ndarray:
    """Closed polygon ((n+1, 2), ordered by angle about the body centre) through the body's mesh nodes."""
    mesh = flow_mesh.mesh
    fdim = mesh.topology.dim - 1
    mesh.topology.create_connectivity(fdim, mesh.topology.dim)
    nodes = entities_to_geometry(mesh, fdim, flow_mesh.facets.find(BODY))
    coords = mesh.geometry.x[nodes.ravel(), :2]
    gathered = mesh.comm.allgather(coords)
    points = np.unique(np.concatenate(gathered), axis=0)
    angle = np.arctan2(points[:, 1] - flow_mesh.center[1], points[:, 0] - flow_mesh.center[0])
    points = points[np.argsort(angle)]
    return np.vstack([points, points[:1]])


def render_speed(
    u: fem.Function,
    flow_mesh: FlowMesh,
    path: Path,
    window: tuple[float, float, float, float],
    title: str = "",
    size: tuple[int, int] = (1600, 700),
) -> Path | None:
    """PNG of |u| inside `window` (x0, x1, y0, y1) with the body outline; returns the path on rank 0."""
    import pyvista as pv

    pv.vtk_verbosity("off")
    grid = gather_velocity_grid(u)
    outline = body_outline(flow_mesh)
    if grid is None:
        return None
    x0, x1, y0, y1 = window
    grid = grid.clip_box((x0, x1, y0, y1, -1.0, 1.0), invert=False)
    surface = grid.extract_surface(algorithm="dataset_surface", nonlinear_subdivision=2)
    plotter = pv.Plotter(off_screen=True, window_size=size)
    plotter.add_mesh(
        surface,
        scalars="speed",
        cmap="viridis",
        scalar_bar_args={"title": "|u|", "vertical": True},
    )
    line = pv.lines_from_points(np.column_stack([outline, np.full(len(outline), 0.01)]))
    plotter.add_mesh(line, color="black", line_width=3)
    if title:
        plotter.add_text(title, font_size=12)
    plotter.view_xy()
    plotter.camera.tight(padding=0.02, view="xy")
    path.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(path))
    plotter.close()
    return path
