"""The multipoint functional over an operating range of Re: its value is the weighted sum of single-Re
evaluations, its adjoint gradient passes a Taylor test, its Hessian matches differences of the gradient,
and the Gauss–Legendre mean in ln Re converges in K."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shapeopt.cases import Objective, load_case
from shapeopt.cli import main
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.designs import parameter_spec
from shapeopt.fem.problem import DragProblem
from surrogates import Surrogate
from surrogates.network import DragNet
from surrogates.pod import POD
from tests.helpers import CASES

CASE = dataclasses.replace(
    load_case(CASES / "cylinder-re20.toml").with_overrides(level="coarse"),
    objective=Objective(re_range=(5.0, 40.0), points_count=2),
)


@pytest.fixture(scope="module")
def functional():
    """Two flows (Re 7.76 and 25.8) on the coarse mesh, at a feasible shape near the circle, evaluated
    with gradient and Hessian."""
    with DragProblem(CASE) as problem:
        J = MultipointFunctional(problem)
        s, ok = problem.space.project(0.05 * np.random.default_rng(0).standard_normal((1, J.size)))
        assert ok[0]
        evaluation = J.evaluate(s[0])
        J.hessian(s[0])
        yield J, evaluation


def test_value_is_the_weighted_sum_of_single_re_evaluations(functional):
    J, evaluation = functional
    assert J.res == pytest.approx([7.7591719, 25.775946]) and np.allclose(J.weights, 0.5)
    singles = [J.problem.evaluate(evaluation.s, re=re).objective for re in J.res]
    assert evaluation.objective == pytest.approx(float(np.dot(J.weights, singles)), rel=1e-12)
    assert [row["cd"] for row in J.per_re(evaluation.s)] == pytest.approx(singles, rel=1e-12)


def test_gradient_passes_a_taylor_test(functional):
    """|J(s + h d) − J(s) − h J'(s)·d| falls as h²: rate 2.00 when this was written."""
    J, evaluation = functional
    direction = np.random.default_rng(1).standard_normal(J.size)
    direction /= np.linalg.norm(direction)
    slope = evaluation.gradient @ direction
    steps = (1e-2, 5e-3)
    errors = [abs(J(evaluation.s + h * direction) - evaluation.objective - h * slope) for h in steps]
    assert np.log2(errors[0] / errors[1]) >= 1.9, errors


def test_hessian_matches_central_differences_of_the_gradient(functional):
    """Relative error 3e-7 at h = 1e-3 when this was written (the single-Re Hessian's accuracy)."""
    J, evaluation = functional
    hessian = J.hessian(evaluation.s)
    assert np.allclose(hessian, hessian.T, atol=1e-12 * np.abs(hessian).max())
    direction = np.random.default_rng(2).standard_normal(J.size)
    direction /= np.linalg.norm(direction)
    h = 1e-3
    plus = J.evaluate(evaluation.s + h * direction).gradient.copy()
    minus = J.evaluate(evaluation.s - h * direction).gradient
    exact = hessian @ direction
    assert np.linalg.norm((plus - minus) / (2 * h) - exact) < 1e-5 * np.linalg.norm(exact)


def test_the_mean_converges_in_the_number_of_points(functional):
    """Gauss–Legendre in ln Re over 5–40: 2 and 4 points differ by < 1e-3 relative near the circle (7.5e-4
    on the circle when this was written; 4 and 8 points by 1.3e-7: docs/operating-range.md)."""
    J, evaluation = functional
    four = MultipointFunctional(J.problem, *Objective(re_range=(5.0, 40.0), points_count=4).quadrature())
    assert abs(evaluation.objective / four(evaluation.s) - 1) < 1e-3


def test_surrogate_route_refuses_a_refit_over_an_operating_range(tmp_path, capsys):
    out = tmp_path / "run"
    (tmp_path / "s.pt").write_bytes(b"refused before it is read")
    command = ["optimize", str(CASES / "cylinder-re5-40-range.toml"), "--method", "surrogate"]
    code = main([*command, "--surrogate", str(tmp_path / "s.pt"), "--refit", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "--refit: not yet for an operating range" in err and err.count("\n") == 1
    assert not out.exists()


def test_surrogate_route_refuses_a_range_outside_the_trained_one(functional, tmp_path, capsys):
    """A surrogate for the case's space and mesh trained over Re 1–20; the range is 5–40."""
    J, _ = functional
    spec = parameter_spec(CASE)
    pod = POD(np.zeros(3), np.zeros((3, 1)), np.ones(3), np.ones(1), 1.0)
    meta = {"spec": spec.to_dict(), "mesh_sha256": J.problem.flow_mesh.sha256, "re_range": [1.0, 20.0]}
    Surrogate(DragNet(len(spec.names), 1, width=4, depth=1), pod, meta).save(tmp_path / "s.pt")
    case = tmp_path / "range.toml"
    text = (
        (CASES / "cylinder-re20.toml")
        .read_text()
        .replace("[shape]", "[objective]\nre_range = [5, 40]\n\n[shape]")
    )
    case.write_text(text)
    out = tmp_path / "run"
    command = ["optimize", str(case), "--level", "coarse", "--method", "surrogate"]
    code = main([*command, "--surrogate", str(tmp_path / "s.pt"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "Re range [5.0, 40.0] is not inside the trained [1.0, 20.0]" in err
    assert not out.exists()
