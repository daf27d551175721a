"""Remeshing in the trust region: a trial shape that would distort the mesh below its quality floor makes
the optimizer generate a mesh for its iterate and go on. The optimum it reaches is the one an optimization
started on a mesh generated for the remeshed shape reaches; gradients stay exact on the new mesh; verified
samples come only from the reference mesh."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
from mpi4py import MPI

from shapeopt.app.runs import last_mesh_shape
from shapeopt.cases import load_case
from shapeopt.cli.flow_commands import gradient_of
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.newton import NEWTON_SETTINGS, optimize_newton
from shapeopt.design.trust_region import ExactCurvature, no_surrogate, refine
from shapeopt.errors import MeshQualityError
from shapeopt.fem.problem import DragProblem
from shapeopt.fem.verify import taylor_test
from tests.helpers import CASES

# Re 5, coarse, 8 B-splines gathered at the tips; a quality floor of 0.6 makes the first long Newton step
# distort the reference mesh, so the optimization remeshes once (at outer step 1) and converges after it.
CASE = load_case(CASES / "cylinder-re5.toml").with_overrides(level="coarse")
CASE = dataclasses.replace(CASE, shape=dataclasses.replace(CASE.shape, modes=8, min_quality=0.6))


@pytest.fixture(scope="module")
def crossing():
    """The Newton trust region from the circle across a remesh, with the evaluations it passed to its
    `verified` callback; the problem stays open on the last mesh."""
    problem = DragProblem(CASE)
    J = ReducedFunctional(problem)
    verified = []
    initial = J.evaluate(J.space.feasible_start(np.zeros(J.size))[0])
    refined = refine(
        J, no_surrogate, NEWTON_SETTINGS, initial, ExactCurvature(J), verified=lambda e, w: verified.append(e)
    )
    yield problem, refined, verified
    problem.close()


def test_gradients_are_exact_on_a_regenerated_mesh(crossing):
    """Taylor test at the optimum, whose boundary the map moves from the shape the mesh was generated for
    by r(θ; s) − r(θ; s_mesh): the adjoint differentiates that map. (First in the module: the optimum is
    still the problem's last solve, with its gradient.)"""
    problem, refined, _ = crossing
    assert np.array_equal(problem.morph.fitted, refined.remeshes[0].s)
    assert np.max(np.abs(refined.final.s - problem.morph.fitted)) > 0.1
    assert taylor_test(problem, refined.final.s, "objective", n_steps=3).min_rate >= 1.9


def test_only_solves_on_the_reference_mesh_are_verified_samples(crossing):
    problem, refined, verified = crossing
    assert verified and all(e.mesh_sha256 == problem.reference_sha256 for e in verified)
    solved_on_reference = refined.history[refined.remeshes[0].iteration].fem_solves
    assert len(verified) == solved_on_reference < refined.history[-1].fem_solves


def test_an_optimization_crossing_a_remesh_reaches_the_optimum_of_one_started_on_that_mesh(crossing):
    problem, refined, _ = crossing
    assert refined.converged, refined.message
    assert len(refined.remeshes) == 1
    remeshed = refined.remeshes[0]
    s_mesh = np.asarray(remeshed.s)
    assert remeshed.mesh_sha256 == problem.flow_mesh.sha256 != problem.reference_sha256
    assert any(step.note.startswith("remeshed") for step in refined.history)
    assert problem.move_to(s_mesh) == pytest.approx(1.0, abs=1e-12)  # the mesh as generated for s_mesh
    # Started from the remeshed shape on the mesh generated for it, from Stokes.
    problem.start_from(None)
    started = optimize_newton(ReducedFunctional(problem), s_mesh)
    assert started.converged and not started.remeshes, started.message
    assert abs(started.final.objective_value - refined.final.objective) < 1e-6
    assert np.max(np.abs(np.subtract(started.final.s, refined.final.s))) < 1e-3


def test_a_start_the_reference_mesh_cannot_follow_is_meshed_for_directly(crossing, capsys):
    """The crossing's optimum distorts the reference mesh below its floor: Newton started there, and
    `gradient` there, solve on a mesh generated for it (step 0 of `remeshes`, no old C_D) and say so."""
    _, refined, _ = crossing
    s_final = np.asarray(refined.final.s)
    with DragProblem(CASE) as problem:
        with pytest.raises(MeshQualityError):
            problem.move_to(s_final)
        only_the_start = dataclasses.replace(NEWTON_SETTINGS, max_steps=0)
        result = optimize_newton(ReducedFunctional(problem), s_final, settings=only_the_start)
        (start,) = result.remeshes
        assert (start["iteration"], start["cd_before"], start["jump"]) == (0, None, None)
        assert (
            np.allclose(start["s"], s_final, atol=1e-3) and start["mesh_sha256"] == problem.flow_mesh.sha256
        )
        assert result.fem_solves == 1 and result.final.violation < 1e-9  # projected on the new mesh's body
        args = argparse.Namespace(check=False, json=True, seed=0)
        assert gradient_of(args, problem, np.asarray(result.final.s), MPI.COMM_WORLD) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mesh"].startswith("generated for the shape") and out["mesh_sha256"] == start["mesh_sha256"]
    assert out["cd"] == result.final.objective_value


def test_show_regenerates_the_last_mesh_of_a_run(tmp_path):
    """`show` pictures a run on its final mesh: the one generated for the shape of its last remesh."""
    (tmp_path / "summary.json").write_text(json.dumps({"remeshes": [{"s": [0.1, 0.2]}, {"s": [0.3, 0.4]}]}))
    assert last_mesh_shape(tmp_path).tolist() == [0.3, 0.4]
    (tmp_path / "summary.json").write_text(json.dumps({"remeshes": []}))
    assert last_mesh_shape(tmp_path) is None
