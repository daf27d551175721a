"""Flow solver against the DFG 2D-1 benchmark, plus continuation and non-convergence."""

from __future__ import annotations

import dataclasses

import pytest

from shapeopt.cases import SolverSettings, load_case
from shapeopt.cli import main
from shapeopt.errors import SolverError
from shapeopt.fem.flow import FlowSolver
from shapeopt.fem.meshing import build_mesh
from shapeopt.fem.simulate import DFG_REFERENCE, run_solve
from tests.helpers import CASES


@pytest.fixture(scope="module")
def dfg_medium():
    result, _ = run_solve(load_case(CASES / "dfg-2d1.toml").with_overrides(level="medium"))
    return result


@pytest.mark.parametrize(("key", "tolerance"), [("cd", 2e-5), ("cl", 2e-3), ("pressure_drop", 5e-4)])
def test_dfg_medium_matches_reference(dfg_medium, key, tolerance):
    value = getattr(dfg_medium, key)
    assert abs(value / DFG_REFERENCE[key] - 1) <= tolerance, (key, value)


def test_surface_integral_cross_check(dfg_medium):
    # Both force evaluations agree; the volume (weak-residual) form is the more accurate one.
    surface_error = abs(dfg_medium.cd_surface / DFG_REFERENCE["cd"] - 1)
    volume_error = abs(dfg_medium.cd / DFG_REFERENCE["cd"] - 1)
    assert surface_error < 5e-4
    assert volume_error < surface_error / 10
    assert dfg_medium.newton_iterations <= 6


@pytest.fixture(scope="module")
def cylinder40_coarse():
    case = load_case(CASES / "cylinder-re40.toml").with_overrides(level="coarse")
    flow_mesh = build_mesh(case)
    return case, flow_mesh


def _solver(case, flow_mesh, **settings):
    return FlowSolver(flow_mesh, dataclasses.replace(case, solver=SolverSettings(**settings)))


def test_continuation_reaches_the_direct_solution(cylinder40_coarse):
    case, flow_mesh = cylinder40_coarse
    direct = _solver(case, flow_mesh)
    report = direct.solve()
    assert report.continuation_steps == [] and report.iterations > 4
    reference = direct.w.x.array.copy()

    # Four Newton iterations are not enough from Stokes at Re 40, but are from a nearby Re.
    ramped = _solver(case, flow_mesh, max_iterations=4)
    report = ramped.solve()
    assert len(report.continuation_steps) >= 1
    assert all(re < case.re for re in report.continuation_steps)
    difference = abs(ramped.w.x.array - reference).max() / abs(reference).max()
    assert difference < 1e-9


def test_non_convergence_raises(cylinder40_coarse):
    case, flow_mesh = cylinder40_coarse
    solver = _solver(case, flow_mesh, max_iterations=2, continuation=False)
    with pytest.raises(SolverError, match=r"Newton did not converge at Re=40 \(continuation off\)"):
        solver.solve()


def test_non_convergence_is_one_line_with_exit_code_3(write_case, capsys):
    text = (
        CASES / "cylinder-re40.toml"
    ).read_text() + "\n[solver]\nmax_iterations = 1\ncontinuation = false\n"
    assert main(["solve", str(write_case(text)), "--level", "coarse"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("shapeopt: error: Newton did not converge at Re=40") and err.count("\n") == 1


def test_stokes_limit_drag_grows_like_one_over_re(cylinder40_coarse):
    # At Re -> 0 the drag is viscous: C_D·Re tends to a constant (Oseen/Lamb regime, bounded box).
    case, flow_mesh = cylinder40_coarse
    solver = _solver(case, flow_mesh)
    from shapeopt.fem.forces import ForceEvaluator

    products = []
    for re in (0.01, 0.02):
        solver.solve(re=re)
        products.append(ForceEvaluator(solver).volume().cd * re)
    assert abs(products[1] / products[0] - 1) < 0.02
