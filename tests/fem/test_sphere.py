"""Bodies of revolution: the sphere by axisymmetric Navier–Stokes in the meridional half-plane against the
standard drag curve; the mirror-symmetric profile at fixed volume, the adjoint's Taylor test, the least-drag
body at Re 1, and the case checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.newton import optimize_newton
from shapeopt.errors import CaseError
from shapeopt.fem.problem import DragProblem
from shapeopt.fem.simulate import run_solve
from shapeopt.fem.verify import taylor_test
from tests.helpers import CASES

CASE = CASES / "sphere.toml"


def standard_curve(re: float) -> float:
    """Clift, Grace & Weber (1978), Table 5.2: the fit to the measured drag of spheres (0.01 < Re ≤ 260)."""
    w = math.log10(re)
    exponent = -0.881 + 0.82 * w - 0.05 * w**2 if re <= 20 else -0.7133 + 0.6305 * w
    return 24 / re * (1 + 10**exponent)


@pytest.mark.parametrize(("re", "tolerance"), [(1.0, 0.02), (10.0, 0.02), (100.0, 0.01)])
def test_the_sphere_has_the_standard_curve_drag(re, tolerance):
    # Coarse level (6,627 DOFs): +0.8 %, +1.2 %, +0.05 % from the curve, itself a fit to measurements
    # within a few per cent (docs/sphere.md: medium and fine, and the box's effect at low Re).
    result, _ = run_solve(load_case(CASE).with_overrides(re=re, level="coarse"))
    assert abs(result.cd / standard_curve(re) - 1) < tolerance, result.cd
    assert abs(result.cd_surface / result.cd - 1) < 5e-3  # the traction integral agrees
    assert result.cl == 0.0


def test_a_body_of_revolution_takes_an_even_b_spline_count_and_no_thickness(write_case):
    text = (CASES / "revolution.toml").read_text()
    with pytest.raises(CaseError, match=r"'shape.modes' must be even for a body of revolution"):
        load_case(write_case(text.replace("modes = 16", "modes = 15")))
    with pytest.raises(
        CaseError, match=r"'constraints.min_thickness' does not apply to a body of revolution"
    ):
        load_case(write_case(text.replace("fix_centroid = true", "fix_centroid = true\nmin_thickness = 0.5")))


@pytest.fixture(scope="module")
def revolution():
    with DragProblem(load_case(CASES / "revolution.toml").with_overrides(level="coarse")) as problem:
        yield problem


def test_the_profile_is_mirror_symmetric_and_the_volume_is_the_spheres(revolution):
    space = revolution.space
    assert space.size == 9 and np.array_equal(space.shape.mirror(), np.eye(9))
    theta = np.linspace(0.0, np.pi, 50)
    s = 0.2 * np.random.default_rng(2).standard_normal(space.size)
    assert np.allclose(space.shape.radius(theta, s), space.shape.radius(-theta, s))
    volume, ratio, centroid = space.measure(np.zeros(space.size))
    assert abs(volume / (math.pi / 6) - 1) < 1e-4 and ratio == 1.0 and abs(centroid[0]) < 1e-12


def test_taylor_rate_of_the_axisymmetric_adjoint(revolution):
    s = 0.05 * np.random.default_rng(4).standard_normal(revolution.size)
    assert taylor_test(revolution, s, "objective", seed=5).min_rate >= 1.9


@pytest.mark.slow
def test_the_least_drag_body_of_revolution_at_re_1(revolution):
    before = revolution.fem_solves
    result = optimize_newton(ReducedFunctional(revolution))
    assert result.converged and result.fem_solves - before <= 10  # 6
    # Coarse: 5.3 % below the sphere of equal volume, pointed (110°) ends; docs/sphere.md has medium.
    assert 0.93 < result.final.objective_value / result.initial.objective_value < 0.96
    assert abs(result.final.area_ratio - 1) < 1e-9  # the volume ratio
    assert result.final.front_angle < 120 and result.final.rear_angle < 120


def test_the_solids_volume_and_axial_centroid_match_the_curve_and_their_gradients(revolution):
    """The profile's exact integrals (volume over 2π = ∫∫ y dA, axial centroid ∫∫ x y dA / ∫∫ y dA) against
    a dense quadrature of the parametrised curve (the discrete body differs from it by 2e-5), and their
    gradients against central differences."""
    space = revolution.space
    rng = np.random.default_rng(6)
    s, ok = space.project(0.15 * rng.standard_normal((2, space.size)))
    assert ok.all()
    moment, centroid, d_moment, d_centroid = space.body.revolution_batch(s)
    for k in range(2):
        points = space.shape.outline_at(np.linspace(0.0, np.pi, 100001), s[k])
        x, y = (0.5 * (points[1:, i] + points[:-1, i]) for i in range(2))
        dx = np.diff(points[:, 0])
        dense = -np.sum(y**2 / 2 * dx)
        assert abs(moment[k] / dense - 1) < 1e-4
        assert abs(centroid[k] + np.sum(x * y**2 / 2 * dx) / dense) < 1e-4
    step = 1e-6 * rng.standard_normal(space.size)
    plus, minus = space.body.revolution_batch(s[:1] + step), space.body.revolution_batch(s[:1] - step)
    assert abs((plus[0] - minus[0])[0] / 2 - d_moment[0] @ step) < 1e-6 * abs(d_moment[0] @ step)
    assert abs((plus[1] - minus[1])[0] / 2 - d_centroid[0] @ step) < 1e-6 * abs(d_centroid[0] @ step)
