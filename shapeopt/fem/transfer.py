"""A flow state carried from one mesh of a shape to another: velocity and pressure interpolated at the new
mesh's DOF points (`dolfinx.fem.Function.interpolate_nonmatching`), a Newton guess on the new mesh.

Both meshes fill the same domain up to the body's discretisation (P2 edges through different points of one
curve), so a new DOF point lies in an old cell or within a bounding-box padding of one.
"""

from __future__ import annotations

import numpy as np
from dolfinx import fem

from shapeopt.fem.flow import FlowSolver

# Absolute bounding-box padding (case length units) for points just outside the old mesh's curved body.
PADDING = 1e-6


def transferred_state(source: FlowSolver, target: FlowSolver) -> np.ndarray | None:
    """The state (u, p) of `source` interpolated onto `target`'s DOF layout: (n_local,) float64, the
    boundary values of `target` set exactly; None where a point cannot be located in the old mesh's
    curved cells (the pull-back's Newton iteration fails in a strongly distorted cell), and None on more
    than one rank: there that failure would come on the rank that owns the cell, between the
    interpolation's collective exchanges, and leave the other ranks waiting in them, which no decision
    taken afterwards (an allreduce of the outcome) can undo; a solve from Stokes costs about as much."""
    if target.flow_mesh.mesh.comm.size > 1:
        return None
    try:
        return _interpolated(source, target)
    except RuntimeError:
        return None


def _interpolated(source: FlowSolver, target: FlowSolver) -> np.ndarray:
    """u and p at the new mesh's P2 points, located in the old mesh once: u there directly, p through a
    scalar P2 field whose vertex values are p's (the P1 pressure at the vertices is then p's exactly)."""
    u_old, p_old = source.split()
    V = target.V
    cells = np.arange(V.mesh.topology.index_map(2).size_local, dtype=np.int32)
    located = fem.create_interpolation_data(V, u_old.function_space, cells, padding=PADDING)
    u_new = fem.Function(V)
    u_new.interpolate_nonmatching(u_old, cells, located)
    p_quadratic = fem.Function(fem.functionspace(V.mesh, ("Lagrange", 2)))
    p_quadratic.interpolate_nonmatching(p_old, cells, located)
    p_new = fem.Function(target.Q)
    p_new.interpolate(p_quadratic)
    state = target.w.x.array.copy()
    for new, to_mixed in ((u_new, target.V_to_W), (p_new, target.Q_to_W)):
        new.x.scatter_forward()
        state[to_mixed] = new.x.array
    for bc in target.bcs:
        bc.set(state)
    return state
