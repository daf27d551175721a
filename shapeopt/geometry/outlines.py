"""Measures of a body outline (extent, tip angles), its ordered boundary from a mesh, and outline files:
lengths in D (the reference circle has D = 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
