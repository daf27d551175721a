"""Off-screen PyVista pictures of a flow field with the body outline.

The distributed field is gathered to rank 0, which renders; other ranks return without drawing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shapeopt.fem.gather import body_outline, gather_flow
from shapeopt.fem.meshing import FlowMesh
from shapeopt.files import written_whole
from shapeopt.geometry.bodies import split_outline

if TYPE_CHECKING:
    from dolfinx import fem


def flow_grid(u: fem.Function, p: fem.Function | None = None):
    """The flow on rank 0 as a PyVista grid (None elsewhere), with the point data of `gather_flow`."""
    import pyvista as pv

    flow = gather_flow(u, p)
    if flow is None:
        return None
    grid = pv.UnstructuredGrid(flow.cells, flow.cell_types, flow.points)
    for name, values in flow.fields.items():
        grid.point_data[name] = values
    return grid


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
    grid = flow_grid(u)
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
    for polygon in split_outline(outline):
        line = pv.lines_from_points(np.column_stack([polygon, np.full(len(polygon), 0.01)]))
        plotter.add_mesh(line, color="black", line_width=3)
    if title:
        plotter.add_text(title, font_size=12)
    plotter.view_xy()
    plotter.camera.tight(padding=0.02, view="xy", adjust_render_window=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with written_whole(path) as partial:  # a full disk leaves no truncated picture
            plotter.screenshot(str(partial))
    finally:
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
    grid = flow_grid(u, p)
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
    for name, outline, colour in outlines:
        for k, polygon in enumerate(split_outline(outline)):  # several bodies: separated by NaN rows
            line = pv.lines_from_points(np.column_stack([polygon, np.full(len(polygon), 0.01)]))
            plotter.add_mesh(line, color=colour, line_width=3, label=name if k == 0 else None)
    plotter.add_legend(bcolor="white", size=(0.15, 0.1))
    if title:
        plotter.add_text(title, font_size=12)
    plotter.view_xy()
    plotter.camera.tight(padding=0.02, view="xy", adjust_render_window=False)
    if screenshot is None:
        plotter.show()
        return None
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    try:
        with written_whole(screenshot) as partial:
            plotter.screenshot(str(partial))
    finally:
        plotter.close()
    return screenshot
