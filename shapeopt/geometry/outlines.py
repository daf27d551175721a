"""Reference outlines and measures of a body outline: lengths in D (the reference circle has D = 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from shapeopt.geometry.shapes import RadialShape


def lens_radius(theta: np.ndarray, aspect: float, area: float = np.pi / 4) -> np.ndarray:
    """r(θ) (n,) of a symmetric lens (two equal circular arcs) about its centre: chord along the flow,
    length/height `aspect`, the given area. Sharp tips of half-angle atan(c/d), c the half-chord and d
    the arcs' centre offset."""
    c, h = aspect, 1.0  # half-chord and half-thickness before scaling
    d = (c**2 - h**2) / (2 * h)  # offset of each arc's centre from the chord
    radius = d + h
    unit_area = 2 * (radius**2 * np.arcsin(c / radius) - d * c)
    scale = np.sqrt(area / unit_area)
    sin = np.abs(np.sin(theta))
    return scale * (np.sqrt(d**2 * sin**2 + c**2) - d * sin)


def extent(points: np.ndarray) -> tuple[float, float]:
    """Length (along the flow, x) and height (across it, y) of an outline's points (n, 2)."""
    return float(np.ptp(points[:, 0])), float(np.ptp(points[:, 1]))


def tip_angles(points: np.ndarray, fraction: float = 0.05) -> tuple[float, float]:
    """Front and rear tip angles in degrees of an outline (n, 2) around its body, flow along +x.

    At each end (the points of least and greatest x), the angle between the chords from the tip to the
    outline's upper and lower crossings of the line a `fraction` of the length behind (or ahead of) it:
    180° for a blunt end, small for a sharp one.
    """
    length, _ = extent(points)
    x = points[:, 0]
    angles = []
    for tip, inward in ((points[np.argmin(x)], 1.0), (points[np.argmax(x)], -1.0)):
        station = tip[0] + inward * fraction * length
        ys = _crossings(points, station)
        half = [np.arctan2(abs(y - tip[1]), fraction * length) for y in (ys.max(), ys.min())]
        angles.append(float(np.degrees(sum(half))))
    return angles[0], angles[1]


def _crossings(points: np.ndarray, station: float) -> np.ndarray:
    """y where the closed polygon `points` crosses the vertical line x = station."""
    a, b = points, np.roll(points, -1, axis=0)
    crossing = (a[:, 0] - station) * (b[:, 0] - station) <= 0
    a, b = a[crossing], b[crossing]
    t = (station - a[:, 0]) / np.where(b[:, 0] != a[:, 0], b[:, 0] - a[:, 0], 1.0)
    return a[:, 1] + t * (b[:, 1] - a[:, 1])


def fit_radial(shape: RadialShape, radius: Callable[[np.ndarray], np.ndarray], n: int = 4000) -> np.ndarray:
    """Parameters s (m,) whose outline r₀ (1 + φ(θ)·s) best fits r(θ) = `radius(θ)` in least squares."""
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    s, *_ = np.linalg.lstsq(shape.basis(theta), radius(theta) / shape.r0 - 1, rcond=None)
    return s


def flank_inflections(points: np.ndarray, middle: float = 0.7) -> int:
    """Sign changes of the curvature of a closed outline (n, 2) (ordered, flow along +x) on the middle
    `middle` of its length, upper and lower flanks counted together: 0 for an ellipse or a lens, more
    for a rippled flank. Curvature by central differences of the ordered points; points where it is
    below 1e-9 of its largest magnitude count as straight and are skipped."""
    d = (np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)) / 2
    dd = np.roll(points, -1, axis=0) - 2 * points + np.roll(points, 1, axis=0)
    curvature = d[:, 0] * dd[:, 1] - d[:, 1] * dd[:, 0]
    x, y = points[:, 0], points[:, 1]
    centre, length = (x.max() + x.min()) / 2, np.ptp(x)
    inside = np.abs(x - centre) < middle * length / 2
    changes = 0
    for flank in (y > np.median(y), y <= np.median(y)):
        values = curvature[inside & flank]
        values = values[np.abs(values) > 1e-9 * np.max(np.abs(curvature))]
        changes += int(np.count_nonzero(np.diff(np.sign(values))))
    return changes


def boundary_chain(nodes: np.ndarray, edges: np.ndarray, closed: bool = True) -> np.ndarray:
    """The body's boundary nodes (n, 2) in order, counter-clockwise from the edge end furthest
    downstream (the rear tip): points 2k, 2k + 1, 2k + 2 are edge k's start, middle and end (the last edge
    ends at point 0; not `closed`, the profile of a body of revolution from rear to front tip on the
    axis, at a last point of its own). `edges` (e, 3) int into `nodes`: (start, end, middle),
    counter-clockwise, one chain; an edge's end and the next edge's start may be two copies of one point
    (equal coordinates)."""

    def key(i: int) -> tuple[float, float]:
        return float(nodes[i, 0]), float(nodes[i, 1])

    following = {key(start): k for k, (start, _, _) in enumerate(edges)}
    k = int(np.argmax(nodes[edges[:, 0], 0]))
    order = []
    for _ in range(len(edges)):
        start, end, middle = edges[k]
        order += [start, middle]
        k = following.get(key(end), -1)
        if k < 0:
            break
    if not closed and len(order) == 2 * len(edges) and k < 0:
        return nodes[np.array([*order, end])]
    if len(order) != 2 * len(edges) or key(edges[k, 0]) != key(order[0]):
        raise ValueError(f"the body's edges do not form one {'closed' if closed else 'open'} chain")
    return nodes[np.array(order)]


def write_outline(points: np.ndarray, path: Path, header: dict[str, object]) -> list[Path]:
    """`path` as CSV (`x,y`, after `# key: value` lines of `header`) and the same points as a Selig-style
    `.dat` beside it (a name line, then `x y`, the first point repeated at the end). Points (n, 2) in D,
    written to 17 significant digits. Returns the two paths."""
    lines = [f"# {key}: {value}" for key, value in header.items()] + ["x,y"]
    lines += [f"{x:.17g},{y:.17g}" for x, y in points]
    path.write_text("\n".join(lines) + "\n")
    selig = path.with_suffix(".dat")
    closed = np.vstack([points, points[:1]])
    name = f"{header.get('case', 'shapeopt')} optimum, lengths in D"
    selig.write_text(name + "\n" + "".join(f"{x:.17g} {y:.17g}\n" for x, y in closed))
    return [path, selig]


def read_outline(path: Path) -> np.ndarray:
    """The points (n, 2) of an outline CSV written by `write_outline`."""
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return np.array([[float(v) for v in row.split(",")] for row in rows[1:]])
