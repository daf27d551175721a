"""Adjoint shape gradients: Taylor tests, finite differences, morphing invariants, the optimizer."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from bench.reference_shapes import fit_radial, lens_radius
from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.slsqp import optimize_slsqp
from shapeopt.errors import ShapeError
from shapeopt.fem.flow import FlowSolver
from shapeopt.fem.forces import ForceEvaluator
from shapeopt.fem.meshing import build_mesh
from shapeopt.fem.problem import DragProblem
from shapeopt.fem.verify import taylor_test
from shapeopt.geometry.outlines import extent
from tests.helpers import CASES


@pytest.fixture(scope="module")
def problem40():
    return DragProblem(load_case(CASES / "fourier4-re40.toml").with_overrides(level="coarse"))


@pytest.fixture(scope="module")
def nontrivial(problem40):
    return 0.04 * np.random.default_rng(7).standard_normal(problem40.size)


def test_taylor_rate_re40(problem40, nontrivial):
    drag = taylor_test(problem40, nontrivial, "objective", seed=1)
    assert drag.min_rate >= 1.9, drag.rates
    # The gradient matters: without it the remainder only falls like h.
    assert drag.first[-1] < 0.05 * drag.zeroth[-1]
    # Lift: third-order terms still show at h = 1e-2; the rate reaches 2 as h shrinks.
    lift = taylor_test(problem40, nontrivial, "lift", seed=1)
    assert lift.rates[-1] >= 1.9, lift.rates


def test_taylor_rate_re1():
    problem = DragProblem(load_case(CASES / "cylinder-re1.toml").with_overrides(level="coarse"))
    s = 0.04 * np.random.default_rng(11).standard_normal(problem.size)
    assert taylor_test(problem, s, "objective", seed=2).min_rate >= 1.9


def test_gradient_matches_central_differences(problem40, nontrivial):
    gradient = problem40.evaluate(nontrivial, gradient=True).gradient.copy()
    h = 1e-4
    for i in (0, 2, 5):
        e = np.zeros(problem40.size)
        e[i] = h
        fd = (problem40.evaluate(nontrivial + e).objective - problem40.evaluate(nontrivial - e).objective) / (
            2 * h
        )
        assert abs(fd / gradient[i] - 1) < 1e-4, (i, fd, gradient[i])


def test_area_constraint_gradient_matches_finite_differences(problem40, nontrivial):
    _, jacobian = problem40.space.constraints(nontrivial)
    h = 1e-6
    for i in range(problem40.size):
        e = np.zeros(problem40.size)
        e[i] = h
        space = problem40.space
        fd = (space.constraints(nontrivial + e)[0] - space.constraints(nontrivial - e)[0]) / (2 * h)
        assert np.allclose(fd, jacobian[:, i], atol=1e-8)
    # The reference body is the P2 interpolant of the unit-diameter circle: area π/4 up to O(h⁴).
    assert abs(problem40.space.reference_area / (np.pi / 4) - 1) < 1e-6


def test_morph_keeps_dof_layout_and_puts_the_body_on_the_curve(problem40, nontrivial):
    solver, morph = problem40.solver, problem40.morph
    dofmap_before = solver.W.dofmap.list.copy()
    dofs_before = solver.dofs
    morph.apply(nontrivial)
    assert np.array_equal(solver.W.dofmap.list, dofmap_before) and solver.dofs == dofs_before
    # Every body node (vertices and edge mid-points) lies on r(θ; s).
    nodes = morph.bodies[0].positions(nontrivial)
    theta = np.arctan2(nodes[:, 1], nodes[:, 0])
    radius = np.linalg.norm(nodes, axis=1)
    assert np.allclose(radius, problem40.space.shape.radius(theta, nontrivial), atol=1e-12)
    morph.apply(np.zeros(problem40.size))
    assert np.array_equal(problem40.flow_mesh.mesh.geometry.x, morph.reference)


@pytest.mark.parametrize(
    ("a0", "message"),
    [
        (-0.92, r"distorts the mesh: min scaled Jacobian 0\.0\d+"),  # r = 0.08 r0: cells shrink 12-fold
        (-0.99, "not a simple curve"),
        (5.0, "reaches 3 D from its centre; the mesh map holds bodies up to 2.75 D"),
    ],
)
def test_a_shape_the_mesh_cannot_follow_is_refused_and_the_mesh_restored(problem40, a0, message):
    problem40.morph.apply(np.zeros(problem40.size))
    before = problem40.flow_mesh.mesh.geometry.x.copy()
    wild = np.zeros(problem40.size)
    wild[0] = a0
    with pytest.raises(ShapeError, match=message):
        problem40.morph.apply(wild)
    assert np.array_equal(problem40.flow_mesh.mesh.geometry.x, before)


def test_large_deformations_keep_the_map_one_to_one(problem40):
    """r0 (1 + 0.6 cos 4θ) and r0 (1 + 0.7 cos 2θ) (length/height 5.7), far beyond the case's bounds:
    valid meshes, the body nodes exactly on the curve."""
    for s in (np.eye(problem40.size)[4] * 0.6, np.eye(problem40.size)[2] * 0.7):
        quality = problem40.morph.apply(s)
        assert quality > 0.2
        body = problem40.space.body
        x = body.nodes + body.basis @ s
        radius = np.linalg.norm(x, axis=1)
        theta = np.arctan2(x[:, 1], x[:, 0])
        assert np.allclose(radius, problem40.space.shape.radius(theta, s), rtol=1e-12)


@pytest.mark.slow
def test_adjoint_optimizer_reduces_drag_at_fixed_area(problem40):
    result = optimize_slsqp(ReducedFunctional(problem40))
    assert result.converged, result.message
    assert result.final.objective_value < 0.9 * result.initial.objective_value
    values, _ = problem40.space.constraints(np.asarray(result.final.s))
    assert np.max(np.abs(values)) < 1e-8
    assert result.history[-1].kkt_residual < 1e-3
    assert result.fem_solves < problem40.case.optimize.max_iterations


@pytest.fixture(scope="module")
def wide40():
    """The wide design space with 24 B-spline coefficients on knots uniform in θ at Re 40 on the coarse
    mesh, and a lens of length/height 4 with sharp tips fitted in it (`bench/deformed_body.py` measures
    the same on finer meshes). Not the case's 16 coefficients gathered at the tips: on the coarse mesh at
    Re 40 the optimizers sharpen those tips until the mesh map refuses the shape (the case converges on
    the medium mesh)."""
    case = load_case(CASES / "cylinder-re40.toml").with_overrides(level="coarse")
    case = dataclasses.replace(case, shape=dataclasses.replace(case.shape, modes=24, knot_stretch=1.0))
    problem = DragProblem(case)
    s = fit_radial(problem.space.shape, functools.partial(lens_radius, aspect=4.0))
    s, ok = problem.space.project(s[None, :])
    assert ok[0]
    return problem, s[0]


def test_a_strongly_deformed_body_solves_on_a_valid_mesh_and_agrees_with_a_body_fitted_mesh(wide40):
    problem, s = wide40
    length, height = extent(problem.space.shape.outline(s, 4000))
    assert length / height > 3.5
    morphed = problem.evaluate(s)
    assert morphed.quality > 0.5
    fitted = build_mesh(problem.case, bodies=[functools.partial(problem.space.shape.outline_at, s=s)])
    solver = FlowSolver(fitted, problem.case)
    solver.solve()
    regenerated = ForceEvaluator(solver).volume().cd
    # Two discretisations of one body: they differ by 3.4e-3 on the coarse level, 6e-4 on medium and
    # 2.6e-5 on fine (bench/deformed_body.py).
    assert abs(morphed.objective / regenerated - 1) < 5e-3


def test_taylor_rate_at_a_strongly_deformed_body(wide40):
    problem, s = wide40
    assert taylor_test(problem, s, "objective", first_step=1e-2).min_rate >= 1.9


def test_taylor_rate_with_knots_gathered_at_the_tips():
    """Stretched knots (`shape.knot_stretch`) keep the mesh map, the exact constraints and the adjoint."""
    case = load_case(CASES / "cylinder-re40.toml").with_overrides(level="coarse")
    case = dataclasses.replace(case, shape=dataclasses.replace(case.shape, modes=12, knot_stretch=3.0))
    problem = DragProblem(case)
    s = fit_radial(problem.space.shape, functools.partial(lens_radius, aspect=3.0))
    s, ok = problem.space.project(s[None, :])
    assert ok[0] and problem.space.violation(s[0]) < 1e-12
    assert taylor_test(problem, s[0], "objective", first_step=1e-2).min_rate >= 1.9


def test_thickness_constraint_jacobian_matches_finite_differences(wide40):
    problem, s = wide40
    case = dataclasses.replace(
        problem.case, constraints=dataclasses.replace(problem.case.constraints, min_thickness=0.6)
    )
    thick = DragProblem(case)
    values, jacobian = thick.space.thickness(s)
    assert values.shape == (180,) and np.min(values) < 0  # the lens is 0.54 D thick: violated
    h = 1e-6
    for i in range(0, problem.size, 5):
        e = h * np.eye(problem.size)[i]
        central = (thick.space.thickness(s + e)[0] - thick.space.thickness(s - e)[0]) / (2 * h)
        assert np.allclose(central, jacobian[:, i], atol=1e-8)
    # At θ = π/2 the chord is the body's height through its centre.
    height = problem.space.shape.radius(np.array([np.pi / 2, 3 * np.pi / 2]), s).sum()
    assert np.isclose(values[90], height - 0.6)


@pytest.mark.slow
def test_a_refused_first_trial_shape_shortens_the_step_and_the_run_converges(problem40, monkeypatch):
    reference = optimize_slsqp(ReducedFunctional(problem40))
    apply, refused = problem40.morph.apply, []

    def refuse_the_first_trial(s):
        if np.any(np.asarray(s) != 0) and not refused:
            refused.append(np.array(s))
            raise ShapeError("refused by the test")
        return apply(s)

    monkeypatch.setattr(problem40.morph, "apply", refuse_the_first_trial)
    result = optimize_slsqp(ReducedFunctional(problem40))
    assert len(refused) == 1 and result.refused == 1
    assert result.converged, result.message
    assert abs(result.final.objective_value / reference.final.objective_value - 1) < 1e-6


@pytest.mark.slow
def test_an_active_thickness_constraint_is_met_with_a_kkt_point(wide40):
    problem, _ = wide40
    case = dataclasses.replace(
        problem.case, constraints=dataclasses.replace(problem.case.constraints, min_thickness=0.6)
    )
    J = ReducedFunctional(DragProblem(case))
    result = optimize_slsqp(J)
    s = np.asarray(result.final.s)
    assert result.converged, result.message
    assert np.min(J.space.thickness(s)[0]) > -1e-8 and len(J.space.active_thickness(s)) > 0
    assert result.history[-1].kkt_residual < 1e-4
    assert result.final.height >= 0.6 - 1e-6  # the unconstrained optimum is 0.44 D thick


def test_a_new_problem_started_at_its_solution_still_has_its_adjoint_and_hessian():
    """Newton from the converged flow of the same body (`start_from`, as the atlas starts each problem
    from its neighbour's flow) still takes one step: the adjoint and the Hessian reuse that step's LU
    factorisation, which a fresh solver would otherwise not have (PETSc: "Not for unassembled matrix")."""
    case = load_case(CASES / "cylinder-re5.toml").with_overrides(level="coarse")
    with DragProblem(case) as first:
        s = np.zeros(first.size)
        reference = first.evaluate(s, hessian=True)
        state = first.state()
        first.move_to(s)
        first.start_from(state)
        first.evaluate(s)
        state = first.state()  # converged twice: its residual is below Newton's tolerances
    with DragProblem(case) as fresh:
        fresh.start_from(state)
        evaluation = fresh.evaluate(s, hessian=True)
    assert evaluation.newton_iterations >= 1
    assert abs(evaluation.objective / reference.objective - 1) < 1e-10
    assert np.allclose(evaluation.gradient, reference.gradient, rtol=1e-8, atol=1e-10)
    assert np.allclose(evaluation.hessian, reference.hessian, rtol=1e-6, atol=1e-8)
