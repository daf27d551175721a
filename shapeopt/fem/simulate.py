"""One flow solve for a case: mesh, Navier–Stokes, forces, and the DFG pressure difference."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from mpi4py import MPI

from shapeopt.cases import Case, Objective
from shapeopt.designs import body_shape
from shapeopt.fem.flow import FlowSolver, NewtonReport
from shapeopt.fem.forces import ForceEvaluator, evaluate_points
from shapeopt.fem.meshing import FlowMesh, build_mesh

# DFG 2D-1 reference values (Schäfer & Turek 1996; digits from the high-accuracy reference computations).
DFG_REFERENCE = {"cd": 5.57953523384, "cl": 0.010618948146, "pressure_drop": 0.11752016697}


@dataclass
class FlowResult:
    """Summary of one solve. Coefficients are non-dimensional; `pressure_drop` (Δp) only where the flow
    configuration reports it."""

    case: str
    re: float
    level: str
    cd: float
    cl: float
    cd_surface: float
    cl_surface: float
    pressure_drop: float | None
    dofs: int
    cells: int
    newton_iterations: int
    continuation_steps: list[float]
    mesh_seconds: float
    solve_seconds: float
    seconds: float
    mesh_sha256: str
    ranks: int
    bodies: list[dict[str, Any]] | None = None  # several bodies: each one's centre, cd and cl
    objective: dict[str, Any] | None = None  # a case's own objective: its description and value

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def run_solve(case: Case, comm: MPI.Comm = MPI.COMM_WORLD) -> tuple[FlowResult, FlowSolver]:
    """Mesh the case, solve Navier–Stokes at its Re, and evaluate the outputs."""
    start = time.perf_counter()
    flow_mesh = build_mesh(case, comm)
    solver = FlowSolver(flow_mesh, case)
    report = solver.solve()
    return summarize(case, flow_mesh, solver, report, time.perf_counter() - start), solver


def summarize(
    case: Case,
    flow_mesh: FlowMesh,
    solver: FlowSolver,
    report: NewtonReport,
    seconds: float,
    s: np.ndarray | None = None,
) -> FlowResult:
    """Forces, Δp (where the flow configuration reports it, `pressure_drop`: between the body's front and
    rear points on the axis through its centre; `s` (m,) the body's shape parameters, None: the
    cylinder) and statistics of a converged solver state."""
    forces = ForceEvaluator(solver, case.domain.centres, case.objective)
    volume, surface = forces.volume(), forces.surface()
    pressure_drop = None
    if case.domain.flow.pressure_drop:
        _, p = solver.split()
        shape = body_shape(case)
        front_back = shape.outline_at(np.array([np.pi, 0.0]), np.zeros(shape.size) if s is None else s)
        values = evaluate_points(p, front_back)
        pressure_drop = float(values[0] - values[1])
    bodies = None
    if len(case.domain.bodies) > 1:
        parts = forces.per_body()
        bodies = [
            {"center": list(center), "cd": part.cd, "cl": part.cl}
            for center, part in zip(case.domain.bodies, parts, strict=True)
        ]
    objective = None
    if case.objective != Objective():
        objective = {"name": case.objective.describe(), "value": forces.objective().cd}
    mesh = flow_mesh.mesh
    return FlowResult(
        case=case.name,
        re=case.re,
        level=case.level,
        cd=volume.cd,
        cl=volume.cl,
        cd_surface=surface.cd,
        cl_surface=surface.cl,
        pressure_drop=pressure_drop,
        dofs=solver.dofs,
        cells=mesh.topology.index_map(mesh.topology.dim).size_global,
        newton_iterations=report.iterations,
        continuation_steps=report.continuation_steps,
        mesh_seconds=flow_mesh.seconds,
        solve_seconds=report.seconds,
        seconds=seconds,
        mesh_sha256=flow_mesh.sha256,
        ranks=mesh.comm.size,
        bodies=bodies,
        objective=objective,
    )
