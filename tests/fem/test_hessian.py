"""The exact Hessian d²C_D/ds² (tangent-linear solves) against central differences of adjoint gradients."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from bench.reference_shapes import fit_radial, lens_radius
from shapeopt.cases import load_case
from shapeopt.fem.problem import DragProblem
from tests.helpers import CASES


@pytest.fixture(
    scope="module",
    params=[("cylinder-re40.toml", 2.5), ("fourier4-re40.toml", 1.3)],
    ids=["bspline", "fourier"],
)
def slender(request):
    """The case's space on the coarse mesh at a lens of the given length/height (as near as its space
    allows): a body far from the circle."""
    name, aspect = request.param
    problem = DragProblem(load_case(CASES / name).with_overrides(level="coarse"))
    s = fit_radial(problem.space.shape, functools.partial(lens_radius, aspect=aspect))
    s, ok = problem.space.project(s[None, :])
    assert ok[0]
    yield problem, s[0]
    problem.close()


def test_hessian_matches_central_differences_of_the_adjoint_gradient(slender):
    """The central difference's error is O(h²): it falls 100-fold per 10-fold smaller step, down to the
    gradient's own accuracy, so the Hessian is the discrete problem's exact one (errors 7e-5 → 7e-7 for the
    B-splines, 3e-3 → 3e-5 for the Fourier modes)."""
    problem, s = slender
    hessian = problem.evaluate(s, hessian=True).hessian
    assert hessian.shape == (problem.size, problem.size)
    assert np.allclose(hessian, hessian.T, atol=1e-12 * np.abs(hessian).max())
    direction = np.random.default_rng(1).standard_normal(problem.size)
    direction /= np.linalg.norm(direction)
    exact = hessian @ direction
    errors = []
    for h in (1e-2, 1e-3):
        plus = problem.evaluate(s + h * direction, gradient=True).gradient.copy()
        minus = problem.evaluate(s - h * direction, gradient=True).gradient
        errors.append(np.linalg.norm((plus - minus) / (2 * h) - exact) / np.linalg.norm(exact))
    assert errors[1] < 1e-4, errors
    assert errors[1] < 0.05 * errors[0], errors  # second order: ratio 0.01


def test_hessian_follows_the_state_it_is_asked_at(slender):
    """A cached Hessian belongs to one shape: moving and coming back gives the same matrix."""
    problem, s = slender
    first = problem.evaluate(s, hessian=True).hessian.copy()
    other = problem.evaluate(0.5 * s, hessian=True).hessian
    again = problem.evaluate(s, hessian=True).hessian
    assert np.linalg.norm(other - first) > 1e-3 * np.linalg.norm(first)
    assert np.allclose(again, first, rtol=1e-7, atol=1e-9 * np.abs(first).max())
