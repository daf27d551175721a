"""The worst relative regret over two Reynolds numbers, minimised by the epigraph SLSQP on the coarse
mesh, with the two flows in two processes (`PointPool`): at the minimax body both regrets are equal (each
Re's own optimum has a regret at the other Re, so neither end alone can be active), and the Re's own
optima are below the body's C_D at their Re (regret > 0). Fresh one-process solves check the two
processes' values, gradient and Hessian."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shapeopt.app.optimizers import minimise_worst_regret
from shapeopt.cases import Objective, load_case
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.fem.problem import DragProblem
from tests.helpers import CASES

BASE = load_case(CASES / "cylinder-re5-40-regret.toml").with_overrides(level="coarse")
CASE = dataclasses.replace(
    BASE,
    objective=Objective(re_range=(5.0, 40.0), points_count=2, goal="worst-regret"),
    shape=dataclasses.replace(BASE.shape, modes=6),
    optimize=dataclasses.replace(BASE.optimize, tolerance=1e-6),
)


def test_the_minimax_body_balances_the_regrets_at_both_ends():
    with DragProblem(CASE) as problem:
        J = MultipointFunctional(problem, workers=2)  # Re 5 in a worker process, Re 40 here
        try:
            assert J.res == pytest.approx([5.0, 40.0])
            result, reference = minimise_worst_regret(J, None, "newton", lambda step: None)
            s = np.asarray(result.final.s)
            shared = J.evaluate(s)
            shared_hessian = J.hessian(s)
        finally:
            J.close()
        stars = np.array([r.final.objective_value for r in reference])
        serial = [problem.evaluate(s, re=re, hessian=True) for re in J.res]
        # the other Re's regret of each Re's own optimum
        crossed = [
            problem.evaluate(np.asarray(reference[k].final.s), re=J.res[1 - k]).objective / stars[1 - k] - 1
            for k in (0, 1)
        ]
    fresh = np.array([e.objective for e in serial]) / stars - 1.0
    assert result.converged and result.final.objective_value == pytest.approx(fresh.max(), rel=1e-9)
    assert fresh.min() > 0.0 and min(crossed) > 2 * fresh.max()
    assert fresh[0] == pytest.approx(fresh[1], rel=1e-3)
    assert all(r.converged and r.final.violation < 1e-8 for r in reference)
    hessian = sum(0.5 * e.hessian for e in serial)
    assert np.allclose(shared.gradient, sum(0.5 * e.gradient for e in serial), rtol=0, atol=1e-9)
    assert np.allclose(shared_hessian, hessian, rtol=0, atol=1e-7 * np.abs(hessian).max())
