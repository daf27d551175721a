"""The Newton trust region (exact FEM Hessian) against SLSQP with adjoint gradients on one problem, and
the optimum it finds in the default design space."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.fem_counts import fem_solves_to_kkt
from bench.reference_shapes import flank_inflections
from shapeopt.cases import load_case
from shapeopt.cli.common import optimize_text
from shapeopt.design.functional import ReducedFunctional, ShapeSummary
from shapeopt.design.newton import NEWTON_SETTINGS, optimize_newton
from shapeopt.design.results import OptimizationResult
from shapeopt.design.slsqp import optimize_slsqp
from shapeopt.designs import body_shape
from shapeopt.fem.problem import DragProblem
from tests.helpers import CASES

CASE = load_case(CASES / "cylinder-re5.toml").with_overrides(level="coarse")


@pytest.fixture(scope="module")
def optima():
    """Re 5 on the coarse mesh in the case's space (16 B-splines, knots gathered at the tips): SLSQP's
    and Newton's results, and Newton's constraint values at its optimum."""
    with DragProblem(CASE) as problem:
        slsqp = optimize_slsqp(ReducedFunctional(problem))
    with DragProblem(CASE) as problem:
        newton = optimize_newton(ReducedFunctional(problem))
        values, _ = problem.space.constraints(np.asarray(newton.final.s))
    return slsqp, newton, values


def test_newton_reaches_the_slsqp_optimum_in_fewer_fem_solves(optima):
    """Both end at one first-order point (SLSQP with ftol 1e-9); the Newton steps converge quadratically,
    so they get there in a fraction of SLSQP's solves (6 against 27 when this was written)."""
    slsqp, newton, values = optima
    assert slsqp.converged and newton.converged, (slsqp.message, newton.message)
    assert newton.method == "newton" and newton.hessians >= 1
    assert newton.history[-1].kkt_residual <= 1e-5
    assert np.max(np.abs(values)) < 1e-10
    assert abs(newton.final.objective_value / slsqp.final.objective_value - 1) < 1e-7
    assert np.max(np.abs(np.subtract(newton.final.s, slsqp.final.s))) < 1e-3
    assert newton.fem_solves <= 0.5 * slsqp.fem_solves
    assert fem_solves_to_kkt(newton.history, 1e-4) <= 0.5 * fem_solves_to_kkt(slsqp.history, 1e-4)


def test_the_optimum_has_smooth_flanks_and_pointed_ends(optima):
    """No curvature sign change on the middle 70 % of the outline (24 with the former 24 uniform
    B-splines at Re 40), and tips sharper than the circle's 180°."""
    _, newton, _ = optima
    outline = body_shape(CASE).outline(np.asarray(newton.final.s), 4000)[:-1]
    assert flank_inflections(outline) == 0
    assert max(newton.final.front_angle, newton.final.rear_angle) < 150
    assert newton.final.length / newton.final.height > 2


def test_newton_from_the_circle_meets_another_area_ratio_from_its_first_solve():
    """Area ratio 2 on the coarse mesh: the circle is dilated to that area before the first solve, so every
    iterate meets the constraint; no trial step reports a ratio that is no number (two steps suffice)."""
    case = dataclasses.replace(CASE, constraints=dataclasses.replace(CASE.constraints, area_ratio=2.0))
    settings = dataclasses.replace(NEWTON_SETTINGS, max_steps=2)
    with DragProblem(case) as problem:
        result = optimize_newton(ReducedFunctional(problem), settings=settings)
    assert abs(result.initial.area_ratio - 2) < 1e-6 and abs(result.final.area_ratio - 2) < 1e-6
    assert result.feasible and result.final.violation < 1e-6
    assert all(step.violation < 1e-6 for step in result.history)
    assert all(step.ratio is None or np.isfinite(step.ratio) for step in result.history)
    assert all(step.note for step in result.history if step.ratio is None)
    assert result.final.objective_value < result.initial.objective_value  # it moved off the circle


def summary_with(violation: float, objective: float = 1.0) -> ShapeSummary:
    """A shape summary (no solve) whose constraint violation is `violation`."""
    return ShapeSummary(
        "bspline", 2, 0.5, [0.0, 0.0], ["c0", "c1"], [0.0, 0.0], 0.785, 1.0, [0.0, 0.0],
        1.0, 1.0, 180.0, 180.0, [], violation, objective, 0.0, 0.5, 5.0, "coarse", "",
    )  # fmt: skip


def test_a_final_shape_off_the_constraints_is_reported_infeasible_never_converged():
    """Whichever optimizer made it: a result whose final shape breaks the constraints beyond the tolerance
    is not converged (exit 6) and its message says so, once, also after `dataclasses.replace`; a feasible
    one is left as it was."""
    infeasible = OptimizationResult(
        "newton", summary_with(0.0), summary_with(0.5), message="met", converged=True
    )
    assert not infeasible.feasible and not infeasible.converged
    assert (
        infeasible.message.startswith("met; the final shape is infeasible")
        and "5.0e-01" in infeasible.message
    )
    again = dataclasses.replace(infeasible, refit={"appended": 1})
    assert again.message == infeasible.message and not again.converged
    assert again.to_dict()["feasible"] is False and again.to_dict()["final"]["violation"] == 0.5
    feasible = OptimizationResult(
        "slsqp", summary_with(0.5), summary_with(1e-9), message="met", converged=True
    )
    assert feasible.feasible and feasible.converged and feasible.message == "met"
    assert "(infeasible)" in optimize_text(infeasible, "out") and "(infeasible)" not in optimize_text(
        feasible, "out"
    )
