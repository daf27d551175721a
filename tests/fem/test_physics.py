"""The FEM implementation of the Physics protocol: products, reduced Jacobian, Newton step, drag."""

from __future__ import annotations

import numpy as np
import pytest

from shapeopt.cases import load_case
from shapeopt.fem.physics import FEMPhysics
from shapeopt.fem.problem import DragProblem
from tests.helpers import CASES

RE = 10.0


@pytest.fixture(scope="module")
def setup():
    problem = DragProblem(load_case(CASES / "fourier4-re40.toml").with_overrides(level="coarse", re=10))
    s = 0.03 * np.random.default_rng(4).standard_normal(problem.size)
    evaluation = problem.evaluate(s, re=RE)
    solution = problem.state()
    return FEMPhysics(problem), s, solution, evaluation


def _free(physics: FEMPhysics, v: np.ndarray) -> np.ndarray:
    """v with the Dirichlet entries zeroed: a direction that keeps the boundary values."""
    v = v.copy()
    v[physics.constrained] = 0.0
    return v


def _perturbation(physics, solution: np.ndarray, size: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(solution))
    return _free(physics, size * np.abs(solution).max() * noise)


def test_solution_has_zero_residual_and_its_drag(setup):
    physics, s, solution, evaluation = setup
    assert np.linalg.norm(physics.residual(s, RE, solution)) < 1e-10
    assert np.allclose(
        physics.coefficients(s, RE, solution), [evaluation.objective, evaluation.lift], rtol=1e-12
    )


def test_jacobian_products_match_finite_differences_and_each_other(setup):
    physics, s, solution, _ = setup
    w = solution + _perturbation(physics, solution, 1e-3)
    rng = np.random.default_rng(1)
    v, u = _free(physics, rng.standard_normal(len(w))), rng.standard_normal(len(w))
    jv = physics.jacobian_product(s, RE, w, v)
    eps = 1e-6
    fd = (physics.residual(s, RE, w + eps * v) - physics.residual(s, RE, w - eps * v)) / (2 * eps)
    assert np.linalg.norm(fd - jv) <= 1e-6 * np.linalg.norm(jv)
    jtu = physics.jacobian_transpose_product(s, RE, w, u)
    assert abs(u @ jv - v @ jtu) <= 1e-10 * abs(u @ jv)


def test_reduced_jacobian_matches_finite_differences(setup):
    physics, s, solution, _ = setup
    w = solution + _perturbation(physics, solution, 1e-3, seed=2)
    basis, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((len(w), 3)))
    basis[physics.constrained] = 0.0  # POD modes of solutions vanish on Dirichlet entries
    reduced = physics.reduced_jacobian(s, RE, w, basis)
    eps = 1e-6
    fd = np.column_stack(
        [
            basis.T
            @ (
                physics.residual(s, RE, w + eps * basis[:, j])
                - physics.residual(s, RE, w - eps * basis[:, j])
            )
            / (2 * eps)
            for j in range(3)
        ]
    )
    assert np.allclose(reduced, fd, rtol=1e-5, atol=1e-8 * np.abs(reduced).max())


def test_newton_step_reduces_the_residual_quadratically(setup):
    physics, s, solution, _ = setup
    before, after = [], []
    for size in (1e-3, 5e-4, 2.5e-4):
        w = solution + _perturbation(physics, solution, size, seed=5)
        before.append(np.linalg.norm(physics.residual(s, RE, w)))
        after.append(np.linalg.norm(physics.residual(s, RE, w + physics.newton_step(s, RE, w))))
    rates = np.log(np.array(after[:-1]) / np.array(after[1:])) / np.log(
        np.array(before[:-1]) / np.array(before[1:])
    )
    assert np.all(rates > 1.8), rates  # |R(w + Δw)| ~ |R(w)|²
    assert after[-1] < 1e-3 * before[-1]
