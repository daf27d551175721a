"""Parametrisations and the exact discrete area/centroid (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from shapeopt.geometry.bodies import BodyShapes, join_outlines, split_outline
from shapeopt.geometry.discrete_body import Cubic, DiscreteBody, GaussProduct, orient_edges
from shapeopt.geometry.shapes import SMOOTH_AMPLITUDE, RadialShape


@pytest.mark.parametrize("stretch", [1.0, 4.0])
def test_bspline_basis_is_a_partition_of_unity(stretch):
    theta = np.linspace(0, 2 * np.pi, 1000)
    basis = RadialShape("bspline", 8, stretch=stretch).basis(theta)
    assert np.allclose(basis.sum(axis=1), 1.0, atol=1e-14)
    assert basis.min() >= 0.0


def test_stretched_knots_gather_at_the_tips():
    """Knot j sits at t_j = 2πj/m with tan θ_j = tan t_j / σ: σ = 4 puts the knots next to θ = 0 (the
    rear tip) at a quarter of the uniform spacing, and the flank knot at t = π/2 stays at θ = π/2."""
    uniform, stretched = RadialShape("bspline", 16), RadialShape("bspline", 16, stretch=4.0)
    theta = np.linspace(-np.pi, np.pi, 200001)
    peak = theta[np.argmax(stretched.basis(theta)[:, 1])]  # the basis function of knot 1
    assert peak == pytest.approx(np.arctan(np.tan(2 * np.pi / 16) / 4), abs=1e-4)
    assert theta[np.argmax(stretched.basis(theta)[:, 4])] == pytest.approx(np.pi / 2, abs=1e-4)
    assert theta[np.argmax(uniform.basis(theta)[:, 1])] == pytest.approx(2 * np.pi / 16, abs=1e-4)


def test_a_knot_stretch_is_refused_for_the_fourier_form():
    with pytest.raises(ValueError, match="knot stretch"):
        RadialShape("fourier", 4, stretch=2.0)


def test_fourier_radius_and_names():
    shape = RadialShape("fourier", 2)
    assert shape.names() == ["a0", "a1", "a2", "b1", "b2"]
    theta = np.array([0.0, np.pi / 2])
    r = shape.radius(theta, np.array([0.1, 0.0, 0.2, 0.0, 0.0]))
    assert np.allclose(r, 0.5 * np.array([1.3, 0.9]))


@pytest.mark.parametrize(
    "kind, modes, stretch",
    [("fourier", 4, 1.0), ("bspline", 6, 1.0), ("bspline", 7, 1.0), ("bspline", 8, 3.0)],
)
def test_mirror_reflects_the_outline_about_the_horizontal_axis(kind, modes, stretch):
    shape = RadialShape(kind, modes, stretch=stretch)
    s = 0.1 * np.random.default_rng(5).standard_normal(shape.size)
    theta = np.linspace(0.0, 2 * np.pi, 97)
    mirror = shape.mirror()
    assert np.allclose(shape.radius(-theta, s), shape.radius(theta, mirror @ s), atol=1e-14)
    assert np.allclose(mirror @ mirror, np.eye(shape.size))


def _chain(shape: RadialShape, n_edges: int) -> DiscreteBody:
    """P2 chain through points of the reference circle, like the mesh's body edges."""
    theta = np.linspace(0, 2 * np.pi, 2 * n_edges, endpoint=False)
    nodes = 0.5 * np.column_stack([np.cos(theta), np.sin(theta)])
    edges = np.array([[2 * i, (2 * i + 2) % (2 * n_edges), 2 * i + 1] for i in range(n_edges)])
    edges = orient_edges(nodes, edges[:, [1, 0, 2]], np.zeros(2))  # scrambled orientation, repaired
    return DiscreteBody(nodes, shape.displacement_basis(nodes), edges)


@pytest.mark.parametrize("kind, stretch", [("fourier", 1.0), ("bspline", 1.0), ("bspline", 3.0)])
def test_discrete_area_and_centroid_gradients_match_finite_differences(kind, stretch):
    shape = RadialShape(kind, 4 if kind == "fourier" else 6, stretch=stretch)
    body = _chain(shape, 64)
    s = 0.05 * np.random.default_rng(3).standard_normal(shape.size)
    area, _, d_area, d_centroid = body.area_centroid(s)
    h = 1e-6
    for i in range(shape.size):
        e = np.zeros(shape.size)
        e[i] = h
        plus, minus = body.area_centroid(s + e), body.area_centroid(s - e)
        assert abs((plus[0] - minus[0]) / (2 * h) - d_area[i]) < 1e-8
        assert np.allclose((plus[1] - minus[1]) / (2 * h), d_centroid[:, i], atol=1e-8)
    assert area > 0


def test_discrete_area_converges_to_the_analytic_fourier_area():
    # A = π r0² ((1 + a0)² + ½ Σ (a_k² + b_k²)) for the exact curve; P2 edges converge like h⁴.
    shape = RadialShape("fourier", 3)
    s = np.array([0.02, 0.0, 0.1, -0.05, 0.0, 0.03, 0.02])
    exact = np.pi * 0.25 * ((1 + s[0]) ** 2 + 0.5 * np.sum(s[1:] ** 2))
    errors = [abs(_chain(shape, n).area_centroid(s)[0] - exact) for n in (32, 64)]
    assert errors[1] < 1e-6
    assert errors[0] / errors[1] > 12  # ≈ 16 for fourth order


def test_discrete_centroid_converges_to_the_exact_curve_centroid():
    # c = ∮ r³/3 (cos θ, sin θ) dθ / A, by the trapezoidal rule (spectrally accurate for periodic r).
    shape = RadialShape("fourier", 3)
    s = np.array([0.02, 0.08, 0.1, -0.05, -0.06, 0.03, 0.02])
    theta = np.linspace(0, 2 * np.pi, 4096, endpoint=False)
    r = shape.radius(theta, s)
    area = np.mean(r**2 / 2) * 2 * np.pi
    exact = (
        np.array([np.mean(r**3 / 3 * np.cos(theta)), np.mean(r**3 / 3 * np.sin(theta))]) * 2 * np.pi / area
    )
    errors = [np.max(np.abs(_chain(shape, n).area_centroid(s)[1] - exact)) for n in (32, 64)]
    assert errors[1] < 1e-6
    assert errors[0] / errors[1] > 12


def test_smooth_designs_are_least_squares_fits_of_fourier_bodies():
    """B-spline designs of datasets and searches: the Fourier body of harmonics 2..m/4 that `unit` sets,
    fitted by the 24 splines to 1% of its largest radius change (cubic splines at 4 knots per wavelength)."""
    shape = RadialShape("bspline", 24)
    unit = np.random.default_rng(0).random((50, 24))
    s = shape.smooth_designs(unit)
    theta = np.linspace(0.0, 2 * np.pi, 997)
    k = np.arange(2.0, shape.smooth_harmonics + 1)
    amplitudes = (2 * unit[:, : 2 * len(k)] - 1) * SMOOTH_AMPLITUDE / np.concatenate([k, k])
    exact = amplitudes @ np.hstack([np.cos(np.outer(theta, k)), np.sin(np.outer(theta, k))]).T
    error = np.abs(s @ shape.basis(theta).T - exact).max(axis=1) / np.abs(exact).max(axis=1)
    assert shape.smooth_harmonics == 6 and error.max() < 0.01
    # Harmonics 0 and 1 (size and centroid) are left to the constraints: none in the fit.
    mean = (s @ shape.basis(theta[:-1]).T).mean(axis=1)
    assert np.max(np.abs(mean)) < 1e-2 * np.abs(exact).max()


def test_a_gauss_product_is_the_cubic_of_the_same_factors_and_any_degree_differentiates():
    rng = np.random.default_rng(9)
    weights = rng.uniform(0.1, 1.0, 6)
    factors = tuple((rng.standard_normal(6), rng.standard_normal((6, 5))) for _ in range(4))
    s = rng.standard_normal((3, 5))
    cubic, product = Cubic.of_product(weights, *factors[:3])(s), GaussProduct(weights, factors[:3])(s)
    assert np.allclose(cubic[0], product[0]) and np.allclose(cubic[1], product[1])  # values, gradients
    quartic = GaussProduct(weights, factors)
    values, gradients = quartic(s)
    expected = [np.sum(weights * np.prod([a + A @ row for a, A in factors], axis=0)) for row in s]
    assert np.allclose(values, expected)
    step = 1e-6 * rng.standard_normal(5)
    difference = (quartic(s + step)[0] - quartic(s - step)[0]) / 2
    assert np.allclose(difference, gradients @ step, rtol=1e-6)


def test_the_profile_of_a_body_of_revolution_keeps_only_mirror_symmetric_bodies():
    for shape in (
        RadialShape("bspline", 16, stretch=3.0, revolution=True),
        RadialShape("fourier", 4, revolution=True),
    ):
        s = np.random.default_rng(1).standard_normal(shape.size)
        theta = np.linspace(0.0, 2 * np.pi, 64)
        assert np.allclose(shape.radius(theta, s), shape.radius(-theta, s))
        full = RadialShape(shape.kind, shape.modes, stretch=shape.stretch)
        assert np.allclose(shape.basis(theta), full.basis(theta) @ shape.symmetric_basis)
    assert (
        RadialShape("bspline", 16, revolution=True).size == 9
        and RadialShape("fourier", 4, revolution=True).size == 5
    )


def test_several_bodies_join_their_vectors_names_and_outlines():
    shapes = tuple(RadialShape("bspline", 8, center=c) for c in ((0.0, 0.0), (3.0, 0.0)))
    bodies = BodyShapes(shapes)
    assert bodies.size == 16 and bodies.names()[8] == "b2.c0" and bodies.blocks[1] == slice(8, 16)
    s = np.random.default_rng(0).uniform(-0.2, 0.2, 16)
    outline = bodies.outline(s, 50)
    parts = split_outline(outline)
    assert np.isnan(outline[:, 0]).sum() == 1 and len(parts) == 2
    for part, shape, own in zip(parts, shapes, bodies.split(s), strict=True):
        assert np.array_equal(part, shape.outline(own, 50))
    assert np.array_equal(join_outlines(parts), outline, equal_nan=True)
    # Tandem on the axis: each body mirrors onto itself.
    mirror = bodies.mirror()
    assert np.array_equal(mirror[:8, :8], shapes[0].mirror()) and not mirror[:8, 8:].any()
    with pytest.raises(ValueError, match="no mirror image"):
        BodyShapes((shapes[0], RadialShape("bspline", 8, center=(0.0, 2.0)))).mirror()
