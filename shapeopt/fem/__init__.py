"""The FEM side: gmsh meshes, steady Navier–Stokes, forces, mesh morph, adjoint, the drag problem.

`dolfinx_solver` is imported here, first, so that MPI is set up ahead of DOLFINx and PETSc for every
module of the package; code outside it takes MPI from here (`from shapeopt.fem import MPI`).
"""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of DOLFINx and PETSc)
from mpi4py import MPI

__all__ = ["MPI"]
