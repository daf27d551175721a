"""Fields for ParaView: velocity and pressure as VTX (ADIOS2 .bp) folders, written collectively under MPI."""

from __future__ import annotations

from pathlib import Path

import basix.ufl
from dolfinx import fem
from dolfinx.io import VTXWriter

from shapeopt.fem.flow import FlowSolver


def write_fields(solver: FlowSolver, out: Path) -> list[Path]:
    """Write velocity and pressure (interpolated to P2, the geometry's degree) as VTX folders."""
    comm = solver.W.mesh.comm
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    u, p = solver.split()
    mesh = solver.W.mesh
    p2 = fem.Function(
        fem.functionspace(mesh, basix.ufl.element("Lagrange", mesh.basix_cell(), 2)), name="pressure"
    )
    p2.interpolate(p)
    paths = [out / "velocity.bp", out / "pressure.bp"]
    for path, field in zip(paths, (u, p2), strict=True):
        with VTXWriter(comm, path, [field], engine="BP4") as writer:
            writer.write(0.0)
    return paths
