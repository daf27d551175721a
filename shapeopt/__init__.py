"""shapeopt: drag of bodies in steady laminar flow (DOLFINx), its shape gradient, and its reduction."""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of DOLFINx/PETSc for every shapeopt module)

__version__ = "0.1.0"
