"""What a solve and the adjoint cost on a case's mesh, for the benches (`import costs`: run as
`python bench/NAME.py`, their folder is on the path)."""

from __future__ import annotations

import time

import numpy as np

from shapeopt.cases import Case
from shapeopt.fem.problem import DragProblem


def solve_costs(case: Case) -> tuple[int, float, float, float]:
    """DOFs and wall seconds of a solve from Stokes (the circle), of a warm solve after a small shape change
    (from the last state) and of the adjoint gradients there, on the case's mesh."""
    with DragProblem(case) as problem:
        start = time.perf_counter()
        problem.evaluate(np.zeros(problem.size))
        cold = time.perf_counter() - start
        s = 1e-3 * np.random.default_rng(0).standard_normal(problem.size)
        start = time.perf_counter()
        problem.evaluate(s)
        warm = time.perf_counter() - start
        start = time.perf_counter()
        problem.evaluate(s, gradient=True)
        adjoint = time.perf_counter() - start
        return problem.solver.dofs, cold, warm, adjoint
