"""Adjoint shape gradients: Taylor tests, finite differences, morphing invariants, the optimizer."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CASES

from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.optimize import optimize_adjoint
from shapeopt.errors import ShapeError
from shapeopt.fem.problem import DragProblem
from shapeopt.fem.verify import taylor_test


@pytest.fixture(scope="module")
def problem40():
    return DragProblem(load_case(CASES / "cylinder-re40.toml").with_overrides(level="coarse"))


@pytest.fixture(scope="module")
def nontrivial(problem40):
    return 0.04 * np.random.default_rng(7).standard_normal(problem40.size)


def test_taylor_rate_re40(problem40, nontrivial):
    drag = taylor_test(problem40, nontrivial, "cd", seed=1)
    assert drag.min_rate >= 1.9, drag.rates
    # The gradient matters: without it the remainder only falls like h.
    assert drag.first[-1] < 0.05 * drag.zeroth[-1]
    # Lift: third-order terms still show at h = 1e-2; the rate reaches 2 as h shrinks.
    lift = taylor_test(problem40, nontrivial, "cl", seed=1)
    assert lift.rates[-1] >= 1.9, lift.rates


def test_taylor_rate_re1():
    problem = DragProblem(load_case(CASES / "cylinder-re1.toml").with_overrides(level="coarse"))
    s = 0.04 * np.random.default_rng(11).standard_normal(problem.size)
    assert taylor_test(problem, s, "cd", seed=2).min_rate >= 1.9


def test_gradient_matches_central_differences(problem40, nontrivial):
    gradient = problem40.evaluate(nontrivial, gradient=True).dcd.copy()
    h = 1e-4
    for i in (0, 2, 5):
        e = np.zeros(problem40.size)
        e[i] = h
        fd = (problem40.evaluate(nontrivial + e).cd - problem40.evaluate(nontrivial - e).cd) / (2 * h)
        assert abs(fd / gradient[i] - 1) < 1e-4, (i, fd, gradient[i])


def test_area_constraint_gradient_matches_finite_differences(problem40, nontrivial):
    _, jacobian = problem40.constraints(nontrivial)
    h = 1e-6
    for i in range(problem40.size):
        e = np.zeros(problem40.size)
        e[i] = h
        fd = (problem40.constraints(nontrivial + e)[0] - problem40.constraints(nontrivial - e)[0]) / (2 * h)
        assert np.allclose(fd, jacobian[:, i], atol=1e-8)
    # The reference body is the P2 interpolant of the unit-diameter circle: area π/4 up to O(h⁴).
    assert abs(problem40.reference_area / (np.pi / 4) - 1) < 1e-6


def test_morph_keeps_dof_layout_and_puts_the_body_on_the_curve(problem40, nontrivial):
    solver, morph = problem40.solver, problem40.morph
    dofmap_before = solver.W.dofmap.list.copy()
    dofs_before = solver.dofs
    morph.apply(nontrivial)
    assert np.array_equal(solver.W.dofmap.list, dofmap_before) and solver.dofs == dofs_before
    # Every body node (vertices and edge mid-points) lies on r(θ; s).
    nodes = morph.body.positions(nontrivial)
    theta = np.arctan2(nodes[:, 1], nodes[:, 0])
    radius = np.linalg.norm(nodes, axis=1)
    assert np.allclose(radius, problem40.shape.radius(theta, nontrivial), atol=1e-12)
    morph.apply(np.zeros(problem40.size))
    assert np.array_equal(problem40.flow_mesh.mesh.geometry.x, morph.reference)


def test_distorting_shape_is_refused_and_mesh_restored(problem40):
    problem40.morph.apply(np.zeros(problem40.size))
    before = problem40.flow_mesh.mesh.geometry.x.copy()
    wild = np.zeros(problem40.size)
    wild[4] = 0.6  # a4 far beyond its bound: r0 (1 + 0.6 cos 4θ)
    with pytest.raises(ShapeError, match=r"shape s=\[.*\] distorts the mesh: min scaled Jacobian"):
        problem40.morph.apply(wild)
    assert np.array_equal(problem40.flow_mesh.mesh.geometry.x, before)
    wild[0] = -0.99
    with pytest.raises(ShapeError, match="not a simple curve"):
        problem40.morph.apply(wild)


@pytest.mark.slow
def test_adjoint_optimizer_reduces_drag_at_fixed_area(problem40):
    result = optimize_adjoint(ReducedFunctional(problem40))
    assert result.converged, result.message
    assert result.final["cd"] < 0.9 * result.initial["cd"]
    values, _ = problem40.constraints(np.asarray(result.final["s"]))
    assert np.max(np.abs(values)) < 1e-8
    assert result.history[-1].kkt_residual < 1e-3
    assert result.fem_solves < problem40.case.optimize.max_iterations
