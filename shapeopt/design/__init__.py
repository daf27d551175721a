"""Drag reduction: the reduced functional, the FEM-adjoint optimizer, the surrogate trust region, `run`."""
