"""The radial design space on its own: no mesh, no solver (the body is a chain of P2 edges on the circle)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shapeopt.cases import load_case
from shapeopt.designs import body_shape
from shapeopt.geometry.discrete_body import DiscreteBody
from shapeopt.space import RadialDesignSpace
from tests.helpers import CASES

EDGES = 96  # quadratic edges on the reference circle


def circle_body(shape, edges: int = EDGES) -> DiscreteBody:
    """The reference circle r₀ about the shape's centre as `edges` quadratic edges (start, end, middle),
    counter-clockwise."""
    theta = np.linspace(0.0, 2 * np.pi, 2 * edges, endpoint=False)
    nodes = np.asarray(shape.center) + shape.r0 * np.column_stack([np.cos(theta), np.sin(theta)])
    start = np.arange(0, 2 * edges, 2)
    triples = np.column_stack([start, (start + 2) % (2 * edges), start + 1])
    return DiscreteBody(nodes, shape.displacement_basis(nodes), triples)


def space_of(case_name: str, **constraints) -> RadialDesignSpace:
    """The case's design space on the circle of `circle_body`, with `constraints` replaced."""
    case = load_case(CASES / case_name)
    space = RadialDesignSpace.from_case(case, circle_body(body_shape(case)), max_body_radius=2.75)
    return dataclasses.replace(space, **constraints)


@pytest.fixture(
    scope="module", params=["fourier4-re40.toml", "cylinder-re40.toml"], ids=["fourier", "bspline"]
)
def space(request) -> RadialDesignSpace:
    return space_of(request.param)


def test_the_reference_is_the_circle_of_unit_diameter(space):
    # P2 edges on the circle: area π/4 up to O(h⁴) with h = 2π/96 · ½.
    assert abs(space.reference_area / (np.pi / 4) - 1) < 1e-6
    assert np.allclose(space.reference_centroid, 0.0, atol=1e-14)


def test_constraint_and_thickness_jacobians_match_central_differences(space):
    thick = dataclasses.replace(space, min_thickness=0.6)
    s = 0.03 * np.random.default_rng(3).standard_normal(space.size)
    h = 1e-6
    for values_and_jacobian in (thick.constraints, thick.thickness):
        _, jacobian = values_and_jacobian(s)
        for i in range(space.size):
            e = np.zeros(space.size)
            e[i] = h
            central = (values_and_jacobian(s + e)[0] - values_and_jacobian(s - e)[0]) / (2 * h)
            assert np.allclose(central, jacobian[:, i], atol=1e-8)


def test_drawn_designs_are_admissible_and_the_sequence_extends(space):
    s, re, feasible = space.sobol_samples(32, seed=0, re_bounds=(1.0, 40.0))
    assert feasible.mean() > 0.9
    assert np.all((re >= 1.0) & (re <= 40.0))
    values, _ = space.constraints_batch(s[feasible])
    assert np.max(np.abs(values)) < 1e-10
    assert np.all((s >= space.bounds[:, 0]) & (s <= space.bounds[:, 1]))
    assert np.all(space.mappable(s[feasible]))
    later, later_re, _ = space.sobol_samples(8, seed=0, re_bounds=(1.0, 40.0), start=24)
    assert np.allclose(later, s[24:]) and np.allclose(later_re, re[24:])


def test_projection_solves_for_the_dependent_parameters_only(space):
    free = np.setdiff1d(np.arange(space.size), space.dependent_parameters)
    drawn = 0.05 * np.random.default_rng(5).standard_normal((16, space.size))
    s, feasible = space.project(drawn)
    assert feasible.all()
    assert np.array_equal(s[:, free], drawn[:, free])
    assert np.max(np.abs(space.constraints_batch(s)[0])) < 1e-12


def test_the_kkt_residual_vanishes_for_a_gradient_in_the_constraints_span(space):
    s, _ = space.project(0.02 * np.random.default_rng(6).standard_normal((1, space.size)))
    _, jacobian = space.constraints(s[0])
    multipliers = np.array([0.7, -0.2, 0.4])[: jacobian.shape[0]]
    assert space.kkt_residual(s[0], jacobian.T @ multipliers) < 1e-12
    other = np.random.default_rng(8).standard_normal(space.size)
    assert space.kkt_residual(s[0], other) > 0.1
    assert space.violation(s[0]) < 1e-12


def test_a_parameter_on_its_bound_counts_only_with_the_right_sign():
    space = space_of("fourier4-re40.toml", fix_centroid=False)
    s = np.zeros(space.size)
    i = space.size - 1  # a free parameter (b4)
    s[i] = space.bounds[i, 1]
    s, _ = space.project(s[None, :])
    assert list(space.active_bounds(s[0])) == [i]
    _, jacobian = space.constraints(s[0])
    pushing_out = -np.eye(space.size)[i]  # ∂C/∂s_i < 0 at the upper bound: the bound holds it back
    assert space.kkt_residual(s[0], pushing_out + 0.3 * jacobian[0]) < 1e-12
    assert space.kkt_residual(s[0], -pushing_out + 0.3 * jacobian[0]) == pytest.approx(1.0)


def upper_half_body(shape, edges: int = EDGES // 2) -> DiscreteBody:
    """The upper half (y ≥ 0) of the reference circle as `edges` quadratic edges: a sphere's profile."""
    theta = np.linspace(0.0, np.pi, 2 * edges + 1)
    nodes = np.asarray(shape.center) + shape.r0 * np.column_stack([np.cos(theta), np.sin(theta)])
    start = np.arange(0, 2 * edges, 2)
    triples = np.column_stack([start, start + 2, start + 1])
    return DiscreteBody(nodes, shape.displacement_basis(nodes), triples)


@pytest.mark.parametrize("revolution", [False, True], ids=["area", "volume"])
def test_a_start_for_another_area_ratio_is_the_circle_dilated_and_a_feasible_one_is_kept(space, revolution):
    """The circle (s = 0) is off the constraints for area ratio 2: the start becomes the circle dilated to
    that area (a sphere: volume), exactly on g = 0; a start that meets them (ratio 1) is kept as given."""
    if revolution:
        space = dataclasses.replace(space, body=upper_half_body(space.shape), revolution=True)
    doubled = dataclasses.replace(space, area_ratio=2.0)
    circle = np.zeros(space.size)
    assert not doubled.feasible(circle)
    start, admissible = doubled.feasible_start(circle)
    assert admissible and doubled.feasible(start) and doubled.violation(start) < 1e-10
    assert abs(doubled.measure(start)[1] - 2.0) < 1e-10
    radii = doubled.shape.radius(np.linspace(0, 2 * np.pi, 50), start)
    assert np.ptp(radii) < 1e-9 * radii[0]  # still a circle: dilated, not deformed by the projection
    kept, admissible = space.feasible_start(circle)
    assert admissible and np.array_equal(kept, circle)
