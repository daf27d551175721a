"""Body-fitted triangle meshes from gmsh: curved (order-2) body, graded near the body and in the wake.

Facet markers: INLET, OUTLET, WALLS (channel walls or free-stream sides), BODY, and AXIS (the symmetry axis
r = 0 of a body of revolution's meridional half-plane, which holds the half-body). The box, the bodies'
centres and radius and the element sizes are the case's flow configuration's (`shapeopt.flows`).
Meshing runs on rank 0 only; the mesh is then distributed over the communicator.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import gmsh
import numpy as np
from dolfinx.io import gmsh as gmshio
from dolfinx.mesh import Mesh, MeshTags
from mpi4py import MPI

from shapeopt.cases import Case
from shapeopt.errors import MeshError
from shapeopt.flows import MeshSizes

FLUID, INLET, OUTLET, WALLS, BODY, AXIS = 1, 2, 3, 4, 5, 6

# A star-shaped body's outline about its centre: angles θ (n,) → points (n, 2).
Outline = Callable[[np.ndarray], np.ndarray]

_REFINEMENT = {"coarse": 1.0, "medium": 2.0, "fine": 4.0}
MESH_DIR = Path(os.environ.get("SHAPEOPT_MESHES", Path(__file__).resolve().parents[2] / "meshes"))


@dataclass
class FlowMesh:
    """A distributed mesh with its facet markers and a content hash of the gmsh output."""

    mesh: Mesh
    facets: MeshTags
    sha256: str
    diameter: float
    centers: tuple[tuple[float, float], ...]  # of the bodies
    seconds: float


def mesh_sizes(case: Case) -> MeshSizes:
    """Element sizes for the case's flow configuration and mesh level: each level halves every size."""
    f = _REFINEMENT[case.level]
    base = case.domain.flow.mesh_sizes
    return MeshSizes(base.body / f, base.wake / f, base.far / f, base.growth / f, base.wake_length)


def reference_mesh_path(case: Case) -> Path | None:
    """Where the reference mesh of the case and level is stored (`FlowConfiguration.reference_mesh_name`:
    a free stream's one body at the origin), None where it is never stored."""
    name = case.domain.flow.reference_mesh_name(case.domain, case.level)
    return None if name is None else MESH_DIR / name


def build_mesh(
    case: Case,
    comm: MPI.Comm = MPI.COMM_WORLD,
    store: bool = False,
    bodies: Sequence[Outline] | None = None,
) -> FlowMesh:
    """The case's mesh, distributed over `comm`: read from `meshes/` when stored there, else generated.

    With `store`, a generated freestream reference mesh is written to `meshes/` so that every later
    run (and every surrogate trained on it) uses exactly these nodes. With `bodies`, one map θ (n,) →
    points (n, 2) of a star-shaped outline per centre, the mesh fits those bodies instead of the circles
    (a body-fitted mesh of one shape, with the reference mesh's size fields, never stored).
    """
    start = time.perf_counter()
    flow = case.domain.flow
    box, centers, radius = flow.box(case.domain), case.domain.centres, flow.body_radius
    stored = reference_mesh_path(case) if bodies is None else None
    if bodies is not None and (flow.revolution or len(bodies) != len(centers)):
        raise MeshError(f"case '{case.name}': a body-fitted mesh needs one outline per body, in a plane flow")
    sha, failure = None, None
    if comm.rank == 0:
        gmsh.initialize(interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.option.setNumber("General.NumThreads", 1)
            with ctrl_c_ends_the_process():
                if stored is not None and stored.is_file():
                    gmsh.open(str(stored))
                else:
                    gmsh.model.add(case.name)
                    if flow.revolution:
                        _half_body_on_axis(box, radius, mesh_sizes(case))
                    else:
                        _body_in_box(box, centers, radius, mesh_sizes(case), bodies)
                    if store and stored is not None:
                        _write_whole(stored)
            sha = _content_hash()
        except Exception as exc:  # gmsh raises plain Exceptions
            failure = str(exc)
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        if comm.rank == 0:
            gmsh.finalize()
        raise MeshError(f"gmsh failed for case '{case.name}': {failure}")
    data = gmshio.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=2)
    if comm.rank == 0:
        gmsh.finalize()
    return FlowMesh(
        mesh=data.mesh,
        facets=data.facet_tags,
        sha256=comm.bcast(sha, root=0),
        diameter=2 * radius,
        centers=centers,
        seconds=time.perf_counter() - start,
    )


@contextlib.contextmanager
def ctrl_c_ends_the_process() -> Iterator[None]:
    """While gmsh works, Ctrl-C and SIGTERM end the process at once (Python would only see them once gmsh
    returns, which for a hard geometry is minutes later). Nothing is lost: meshes are written whole or not
    at all. A signal that is ignored (in a worker process: its parent ends it) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = [
        s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) not in (signal.SIG_IGN, None)
    ]
    previous = {s: signal.signal(s, signal.SIG_DFL) for s in handled}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _write_whole(path: Path) -> None:
    """Write the current gmsh model to `path` (binary .msh) through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    gmsh.option.setNumber("Mesh.Binary", 1)
    gmsh.write(str(partial))
    os.replace(partial, path)


OUTLINE_POINTS = 120  # interpolation points per quarter of a body-fitted outline


def _body_in_box(
    box: tuple[float, float, float, float],
    centers: tuple[tuple[float, float], ...],
    radius: float,
    sizes: MeshSizes,
    bodies: Sequence[Outline] | None = None,
) -> None:
    """Build the geometry, size fields and an order-2 mesh in the current gmsh model: circles of `radius`
    at `centers` (BODY all), or about each centre its outline in `bodies` (θ ↦ points), each body as four
    quarters sharing their end points, so that the stagnation points are mesh vertices."""
    x0, x1, y0, y1 = box
    occ = gmsh.model.occ
    corners = [
        occ.addPoint(x0, y0, 0),
        occ.addPoint(x1, y0, 0),
        occ.addPoint(x1, y1, 0),
        occ.addPoint(x0, y1, 0),
    ]
    bottom, right, top, left = (occ.addLine(corners[i], corners[(i + 1) % 4]) for i in range(4))
    quarters, rears = [], []
    for k, (cx, cy) in enumerate(centers):
        if bodies is None:
            centre = occ.addPoint(cx, cy, 0)
            ends = [
                occ.addPoint(cx + radius * np.cos(a), cy + radius * np.sin(a), 0)
                for a in np.arange(4) * np.pi / 2
            ]
            quarters.append([occ.addCircleArc(ends[i], centre, ends[(i + 1) % 4]) for i in range(4)])
            occ.remove([(0, centre)])  # a free point would become a node outside every cell
            rears.append((cx + radius, cy))
        else:
            theta = np.linspace(0.0, 2 * np.pi, 4 * OUTLINE_POINTS, endpoint=False)
            points = bodies[k](theta)
            tags = [occ.addPoint(x, y, 0) for x, y in points]
            splines = [tags[q * OUTLINE_POINTS : (q + 1) * OUTLINE_POINTS + 1] for q in range(3)]
            splines.append(tags[3 * OUTLINE_POINTS :] + tags[:1])
            quarters.append([occ.addSpline(spline) for spline in splines])
            rears.append((float(points[0, 0]), cy))
    outer = occ.addCurveLoop([bottom, right, top, left])
    inner = [occ.addCurveLoop(arcs) for arcs in quarters]
    surface = occ.addPlaneSurface([outer, *inner])
    occ.synchronize()

    arcs = [arc for arcs in quarters for arc in arcs]
    model = gmsh.model
    model.addPhysicalGroup(2, [surface], FLUID, name="fluid")
    model.addPhysicalGroup(1, [left], INLET, name="inlet")
    model.addPhysicalGroup(1, [right], OUTLET, name="outlet")
    model.addPhysicalGroup(1, [bottom, top], WALLS, name="walls")
    model.addPhysicalGroup(1, arcs, BODY, name="body")
    _sizes_and_mesh(arcs, rears, sizes)


def _half_body_on_axis(box: tuple[float, float, float, float], radius: float, sizes: MeshSizes) -> None:
    """The meridional half-plane r = y ≥ 0 of a sphere of `radius` at the origin in the box: the upper
    half-circle as two quarter arcs, the axis on either side of it (AXIS), and the same size fields and
    order-2 mesh as the planar body."""
    x0, x1, _, y1 = box
    occ = gmsh.model.occ
    front, top_point, rear = (occ.addPoint(x, y, 0) for x, y in ((-radius, 0), (0, radius), (radius, 0)))
    corners = [occ.addPoint(x, y, 0) for x, y in ((x0, 0), (x1, 0), (x1, y1), (x0, y1))]
    centre = occ.addPoint(0, 0, 0)
    arcs = [occ.addCircleArc(rear, centre, top_point), occ.addCircleArc(top_point, centre, front)]
    occ.remove([(0, centre)])
    axis = [occ.addLine(corners[0], front), occ.addLine(rear, corners[1])]
    right, top = occ.addLine(corners[1], corners[2]), occ.addLine(corners[2], corners[3])
    left = occ.addLine(corners[3], corners[0])
    loop = occ.addCurveLoop([axis[0], -arcs[1], -arcs[0], axis[1], right, top, left])
    surface = occ.addPlaneSurface([loop])
    occ.synchronize()

    model = gmsh.model
    model.addPhysicalGroup(2, [surface], FLUID, name="fluid")
    model.addPhysicalGroup(1, [left], INLET, name="inlet")
    model.addPhysicalGroup(1, [right], OUTLET, name="outlet")
    model.addPhysicalGroup(1, [top], WALLS, name="walls")
    model.addPhysicalGroup(1, arcs, BODY, name="body")
    model.addPhysicalGroup(1, axis, AXIS, name="axis")
    _sizes_and_mesh(arcs, [(radius, 0.0)], sizes)


def _sizes_and_mesh(arcs: list[int], rears: list[tuple[float, float]], sizes: MeshSizes) -> None:
    """Element sizes growing from the body curves `arcs` and from a wake segment behind each rear point
    (x, y) along the flow, capped at the far size; then the order-2 mesh of the current gmsh model."""
    model = gmsh.model
    fields = model.mesh.field
    body_distance = fields.add("Distance")
    fields.setNumbers(body_distance, "CurvesList", arcs)
    fields.setNumber(body_distance, "Sampling", 400)
    near_body = fields.add("MathEval")
    fields.setString(near_body, "F", f"{sizes.body} + {sizes.growth} * F{body_distance}")

    # Distance to each wake segment from the rear of a body to `wake_length` behind it.
    wakes = []
    for rear, cy in rears:
        end = rear + sizes.wake_length
        wake_distance = f"Sqrt(Max(Max(x - ({end}), ({rear}) - x), 0)^2 + (y - ({cy}))^2)"  # signs: mathex
        wakes.append(fields.add("MathEval"))
        fields.setString(wakes[-1], "F", f"{sizes.wake} + {sizes.growth} * {wake_distance}")

    far = fields.add("MathEval")  # MathEval fields must not nest: gmsh deadlocks on them
    fields.setString(far, "F", f"{sizes.far}")
    smallest = fields.add("Min")
    fields.setNumbers(smallest, "FieldsList", [near_body, *wakes, far])
    fields.setAsBackgroundMesh(smallest)

    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    model.mesh.generate(2)
    model.mesh.setOrder(2)


def _content_hash() -> str:
    """SHA-256 of node coordinates and the fluid cells' node tags of the current gmsh model."""
    tags, coords, _ = gmsh.model.mesh.getNodes()
    order = np.argsort(tags)
    digest = hashlib.sha256()
    digest.update(np.asarray(tags)[order].astype(np.int64).tobytes())
    digest.update(np.asarray(coords).reshape(-1, 3)[order].astype(np.float64).tobytes())
    for dim, tag in gmsh.model.getPhysicalGroups():
        for entity in gmsh.model.getEntitiesForPhysicalGroup(dim, tag):
            types, _, nodes = gmsh.model.mesh.getElements(dim, entity)
            for t, n in zip(types, nodes, strict=True):
                digest.update(np.int64([dim, tag, t]).tobytes())
                digest.update(np.asarray(n, dtype=np.int64).tobytes())
    return digest.hexdigest()
