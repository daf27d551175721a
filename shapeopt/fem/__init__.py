"""The FEM side: gmsh meshes, steady Navier–Stokes, forces, mesh morph, adjoint, the drag problem.

`dolfinx_solver` is imported here, first, so that MPI is set up ahead of DOLFINx and PETSc for every
module of the package; code outside it takes MPI from here (`from shapeopt.fem import MPI`).
"""

import signal
import threading

import dolfinx_solver  # noqa: F401  (orders MPI ahead of DOLFINx and PETSc)
from mpi4py import MPI
from petsc4py import PETSc  # noqa: F401  (initialises PETSc: see below)

__all__ = ["MPI"]


def _sigterm_back_to_python() -> None:
    """PETSc's initialisation takes SIGTERM over (it prints its own error and calls MPI_Abort); give it back
    to the handler Python knows: the CLI's (`shapeopt.cli.signals`: the Ctrl-C paths keep finished work),
    a worker's (ignored), or the default (the process ends). PETSc keeps its handlers of crashes."""
    if threading.current_thread() is threading.main_thread():
        handler = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if handler is None else handler)


_sigterm_back_to_python()
