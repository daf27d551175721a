"""Off-screen PyVista pictures of a flow field with the body outline.

The distributed field is gathered to rank 0, which renders; other ranks return without drawing.
"""

from __future__ import annotations

from pathlib import Path

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
from dolfinx import fem, plot
from dolfinx.mesh import entities_to_geometry

from shapeopt.fem.meshing import BODY, FlowMesh


def gather_flow_grid(u: fem.Function, p: fem.Function | None = None):
    """The flow on rank 0 as a PyVista grid (None elsewhere).

    Point data: `velocity` (3 components, z = 0), `speed` (|u|) and, when `p` is given, `pressure`
    (interpolated to the velocity's P2 nodes).
    """
    import pyvista as pv

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
    grid = pv.UnstructuredGrid(
        np.concatenate(topologies),
        np.concatenate([part[1] for part in parts]),
        np.concatenate([part[2] for part in parts]),
    )
    for name in parts[0][3]:
        grid.point_data[name] = np.concatenate([part[3][name] for part in parts])
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
    grid = gather_flow_grid(u)
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
    plotter.camera.tight(padding=0.02, view="xy", adjust_render_window=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(path))
    plotter.close()
    return path


def render_view(
    u: fem.Function,
    p: fem.Function,
    outlines: list[tuple[str, np.ndarray, str]],
    window: tuple[float, float, float, float],
    field: str = "speed",
    screenshot: Path | None = None,
    size: tuple[int, int] = (1600, 800),
    title: str = "",
) -> Path | None:
    """|u| or p with streamlines and body outlines `(label, (n, 2) polygon, colour)`.

    Off screen into `screenshot` when given, else in an interactive window. Rank 0 only draws.
    """
    import pyvista as pv

    pv.vtk_verbosity("off")
    grid = gather_flow_grid(u, p)
    if grid is None:
        return None
    x0, x1, y0, y1 = window
    grid = grid.clip_box((x0, x1, y0, y1, -1.0, 1.0), invert=False)
    surface = grid.extract_surface(algorithm="dataset_surface", nonlinear_subdivision=2)
    plotter = pv.Plotter(off_screen=screenshot is not None, window_size=size)
    label = {"speed": "|u|", "pressure": "p"}[field]
    plotter.add_mesh(
        surface,
        scalars=field,
        cmap="viridis" if field == "speed" else "coolwarm",
        scalar_bar_args={"title": label, "vertical": True},
    )
    seeds = pv.Line(
        (x0 + 0.05 * (x1 - x0), y0 + 0.1 * (y1 - y0), 0.0),
        (x0 + 0.05 * (x1 - x0), y1 - 0.1 * (y1 - y0), 0.0),
        resolution=40,
    )
    lines = grid.streamlines_from_source(
        seeds, vectors="velocity", max_length=4 * (x1 - x0), integration_direction="forward"
    )
    if lines.n_points:
        plotter.add_mesh(lines.translate((0, 0, 0.005)), color="white", line_width=1, opacity=0.7)
    for name, polygon, colour in outlines:
        line = pv.lines_from_points(np.column_stack([polygon, np.full(len(polygon), 0.01)]))
        plotter.add_mesh(line, color=colour, line_width=3, label=name)
    plotter.add_legend(bcolor="white", size=(0.15, 0.1))
    if title:
        plotter.add_text(title, font_size=12)
    plotter.view_xy()
    plotter.camera.tight(padding=0.02, view="xy", adjust_render_window=False)
    if screenshot is None:
        plotter.show()
        return None
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(screenshot))
    plotter.close()
    return screenshot
