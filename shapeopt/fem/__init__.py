"""The FEM side: gmsh meshes, steady Navier–Stokes, forces, mesh morph, adjoint, the drag problem.

`dolfinx_solver` is imported first so that MPI is set up ahead of DOLFINx and PETSc in every module here.
"""

import dolfinx_solver  # noqa: F401
