"""Trust-region model management: FEM-verified convergence even with a useless surrogate."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

from shapeopt.app import runs
from shapeopt.app.pipeline import matching_surrogate
from shapeopt.cases import load_case
from shapeopt.data.dataset import generate
from shapeopt.data.verified import VERIFIED_INDEX
from shapeopt.design.functional import FILE_KEYS, ReducedFunctional
from shapeopt.design.slsqp import optimize_slsqp
from shapeopt.design.surrogate_search import mirror_averaged, optimize_surrogate
from shapeopt.design.trust_region import CorrectedModel, TrustRegionSettings, update_radius
from shapeopt.designs import parameter_spec
from shapeopt.errors import ShapeError
from shapeopt.fem.problem import DragProblem, Evaluation
from shapeopt.geometry.outlines import read_outline
from shapeopt.geometry.shapes import RadialShape
from surrogates import Surrogate
from surrogates.datafile import read_dataset
from surrogates.network import DragNet
from surrogates.pod import POD
from surrogates.settings import TrainSettings
from surrogates.train import train
from tests.helpers import CASES, shapeopt_command


def random_surrogate(problem: DragProblem, seed: int = 0) -> Surrogate:
    """An untrained network: smooth, O(1), and wrong everywhere (its drag has nothing to do with the flow)."""
    torch.manual_seed(seed)
    net = DragNet(problem.size, 1, width=16, depth=2)
    n = len(problem.state())
    pod = POD(np.zeros(n), np.zeros((n, 1)), np.ones(n), np.ones(1), 1.0)
    meta = {
        "spec": parameter_spec(problem.case).to_dict(),
        "mesh_sha256": problem.flow_mesh.sha256,
        "re_range": [1.0, 100.0],
        "method": "untrained",
    }
    return Surrogate(net, pod, meta)


@pytest.fixture(scope="module")
def problem():
    return DragProblem(load_case(CASES / "fourier4-re40.toml").with_overrides(level="coarse"))


@pytest.mark.parametrize("kind, modes", [("fourier", 3), ("bspline", 6)])
def test_mirror_averaged_surrogate_is_symmetric_with_consistent_gradient(kind, modes):
    shape = RadialShape(kind, modes)
    weights = np.random.default_rng(1).standard_normal((3, shape.size))

    def drag(s, re):
        return np.sin(s @ weights[0]) + (s @ weights[1]) ** 2 + re * s @ weights[2]

    def drag_gradient(s, re):
        return drag(s, re), (
            np.cos(s @ weights[0])[:, None] * weights[0]
            + 2 * (s @ weights[1])[:, None] * weights[1]
            + re * weights[2]
        )

    surrogate = SimpleNamespace(drag=drag, drag_gradient=drag_gradient)
    mirror = shape.mirror()
    s = 0.1 * np.random.default_rng(2).standard_normal((4, shape.size))
    cd, grad = mirror_averaged(surrogate, mirror, s, 2.0, gradient=True)
    assert np.allclose(cd, mirror_averaged(surrogate, mirror, s @ mirror, 2.0)[0], atol=1e-14)
    h = 1e-6
    for i in range(shape.size):
        e = h * np.eye(shape.size)[i]
        central = (
            mirror_averaged(surrogate, mirror, s + e, 2.0)[0]
            - mirror_averaged(surrogate, mirror, s - e, 2.0)[0]
        )
        assert np.allclose(central / (2 * h), grad[:, i], atol=1e-8)


def test_the_operating_range_mean_of_a_surrogate_is_its_weighted_sum_with_consistent_gradient():
    """A small untrained network (the demo case's 9 parameters): the mean over 3 Reynolds numbers, all
    queries in one batch, equals the weighted sum of single-Re means, and its autograd gradient matches
    central differences."""
    torch.manual_seed(0)
    spec = parameter_spec(load_case(CASES / "cylinder-re1-40.toml"))
    m, n = len(spec.names), 6
    pod = POD(np.zeros(n), np.zeros((n, 1)), np.ones(n), np.ones(1), 1.0)
    surrogate = Surrogate(DragNet(m, 1, width=8, depth=1), pod, {"spec": spec.to_dict(), "re_range": [1, 40]})
    mirror = np.eye(m)[::-1]  # any involution: the average over it is tested above
    res, weights = np.array([2.0, 7.0, 30.0]), np.array([1.0, 2.0, 1.0])
    s = 0.05 * np.random.default_rng(4).standard_normal((5, m))
    cd, grad = mirror_averaged(surrogate, mirror, s, res, gradient=True, weights=weights)
    singles = np.stack([mirror_averaged(surrogate, mirror, s, re)[0] for re in res], axis=1)
    assert np.allclose(cd, singles @ weights / weights.sum(), rtol=1e-12)
    h = 1e-6
    for i in range(m):
        e = h * np.eye(m)[i]
        plus, minus = (mirror_averaged(surrogate, mirror, x, res, weights=weights)[0] for x in (s + e, s - e))
        assert np.allclose((plus - minus) / (2 * h), grad[:, i], atol=1e-7)


def smooth_surrogate(m: int):
    """S(s) = sin(w·s) + ½ sᵀ A s (m parameters), as a `Model` s ↦ (value, gradient (m,))."""
    rng = np.random.default_rng(3)
    w, a = rng.standard_normal(m), rng.standard_normal((m, m))
    a = a + a.T

    def model(s):
        return float(np.sin(w @ s) + 0.5 * s @ a @ s), np.cos(w @ s) * w + a @ s

    return model


def fem_evaluation(s, cd, dcd) -> Evaluation:
    return Evaluation(
        s=s, re=40.0, objective=cd, lift=0.0, quality=1.0, newton_iterations=0, seconds=0.0, gradient=dcd
    )


def test_corrected_model_matches_the_fem_at_the_iterate_and_sr1_meets_the_secant_condition():
    m = 5
    rng = np.random.default_rng(4)
    surrogate = smooth_surrogate(m)
    s_k = 0.1 * rng.standard_normal(m)
    fem = fem_evaluation(s_k, 1.37, rng.standard_normal(m))
    model = CorrectedModel.at(surrogate, fem, np.zeros((m, m)))
    value, gradient = model(s_k)
    assert value == pytest.approx(fem.objective, rel=1e-15) and np.allclose(
        gradient, fem.gradient, rtol=0, atol=1e-15
    )
    # Away from s_k the model is the surrogate plus the linear correction (B_k = 0), its gradient exact.
    s = s_k + 0.05 * rng.standard_normal(m)
    h = 1e-6
    central = [(model(s + h * e)[0] - model(s - h * e)[0]) / (2 * h) for e in np.eye(m)]
    assert np.allclose(central, model(s)[1], atol=1e-8)

    # SR1: B d = y for the step d and the change y of the error's gradient ∇C − ∇S; B stays symmetric.
    fem_gradient = rng.standard_normal(m)
    curvature = model.sr1_update(s, fem_gradient)
    d = s - s_k
    y = (fem_gradient - fem.gradient) - (surrogate(s)[1] - model.surrogate_gradient)
    assert np.allclose(curvature @ d, y, atol=1e-12) and np.array_equal(curvature, curvature.T)
    # With that curvature the next model still matches the FEM at its own iterate, and a step whose
    # secant condition already holds (r = y − B d = 0) leaves B as it is.
    again = CorrectedModel.at(surrogate, fem, curvature)
    assert again(s_k)[0] == pytest.approx(fem.objective, rel=1e-15)
    assert np.allclose(again.sr1_update(s, fem_gradient), curvature, rtol=0, atol=1e-12)


def test_the_radius_follows_the_ratio_of_actual_to_predicted_reduction():
    settings = TrustRegionSettings(accept=0.1, max_radius=0.3)
    assert update_radius(settings, 0.1, -np.inf, 0.08) == (0.25 * 0.08, False)  # a refused shape
    assert update_radius(settings, 0.1, 0.05, 0.08) == (0.25 * 0.08, False)  # poor: rejected, shrunk
    assert update_radius(settings, 0.1, 0.2, 0.08) == (0.25 * 0.08, True)  # accepted, still shrunk
    assert update_radius(settings, 0.1, 0.5, 0.1) == (0.1, True)  # fair: kept
    assert update_radius(settings, 0.1, 0.9, 0.05) == (0.1, True)  # good but inside the ball: kept
    assert update_radius(settings, 0.1, 0.9, 0.0995) == (0.2, True)  # good on the boundary: doubled
    assert update_radius(settings, 0.2, 1.0, 0.2) == (0.3, True)  # at most max_radius
    assert update_radius(settings, 0.1, np.nan, 0.08) == (0.25 * 0.08, False)  # no number: shrunk, rejected


@pytest.mark.slow
def test_poor_surrogate_still_reaches_the_fem_optimum(problem):
    surrogate = random_surrogate(problem)
    settings = TrustRegionSettings(global_samples=2048, starts=2, max_steps=60)
    result = optimize_surrogate(ReducedFunctional(problem), surrogate, settings)
    assert result.converged, result.message
    assert result.history[-1].kkt_residual <= settings.kkt_tolerance
    assert np.max(np.abs(problem.space.constraints(np.asarray(result.final.s))[0])) < 1e-9
    # The surrogate's own optimum is far from the FEM's; the corrections carry the answer there.
    surrogate_start = result.history[0]
    assert abs(surrogate_start.surrogate_cd - surrogate_start.cd) > 0.05
    reference = optimize_slsqp(ReducedFunctional(DragProblem(problem.case)))
    assert abs(result.final.objective_value / reference.final.objective_value - 1) < 1e-5
    assert result.final.objective_value < 0.9 * result.initial.objective_value


def test_refused_trial_steps_are_counted_and_the_run_still_converges(problem, monkeypatch):
    """The mesh refuses the first trial step after the first FEM iterate (besides the wild surrogate
    optima it refuses itself): every refusal is counted, and the run still ends at the FEM first-order
    point. The first two solves are the case's circle (for the report) and the first FEM iterate."""
    apply, solved, refused = problem.morph.apply, [], []

    def refuse_the_first_trial_step(s):
        if len(solved) == 2 and not any(r == "test" for r in refused):
            refused.append("test")
            raise ShapeError("refused by the test")
        try:
            quality = apply(s)
        except ShapeError:
            refused.append("mesh")
            raise
        solved.append(np.array(s))
        return quality

    monkeypatch.setattr(problem.morph, "apply", refuse_the_first_trial_step)
    settings = TrustRegionSettings(global_samples=2048, starts=2, max_steps=60)
    result = optimize_surrogate(ReducedFunctional(problem), random_surrogate(problem), settings)
    assert "test" in refused and result.refused == len(refused)
    assert result.converged, result.message
    assert any(step.note == "trial shape refused" and not step.accepted for step in result.history)
    assert all(step.ratio is None or np.isfinite(step.ratio) for step in result.history)  # JSON numbers


def test_write_run_pictures_the_final_state_without_solving_again(problem, tmp_path, monkeypatch):
    settings = TrustRegionSettings(global_samples=256, starts=1, max_steps=2)
    J = ReducedFunctional(problem)
    result = optimize_surrogate(J, random_surrogate(problem), settings)
    solves = problem.fem_solves  # the initial shape was solved last, for the report
    pictured = []

    def render_speed(u, flow_mesh, path, *args, **kwargs):  # VTK stays out of the test process
        pictured.append((problem.fem_solves, problem.morph.s.copy(), problem.state(), path))

    monkeypatch.setattr(runs, "render_speed", render_speed)
    summary = runs.write_run(result, J, tmp_path, extra={"note": "extra"})
    [(fem_solves, s, state, path)] = pictured
    assert fem_solves == solves and path == tmp_path / "flow.png"
    assert np.array_equal(s, result.final.s) and np.array_equal(state, result.final_state)
    shape = json.loads((tmp_path / "shape.json").read_text())
    assert list(shape) == [FILE_KEYS.get(f.name, f.name) for f in dataclasses.fields(result.final)]
    assert shape["cd"] == result.final.objective_value and shape["s"] == result.final.s
    assert "final_state" not in summary and summary["note"] == "extra"
    assert json.loads((tmp_path / "summary.json").read_text())["final"] == shape

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runs, "render_speed", full_disk)  # the pictures come after the result's files
    with pytest.raises(OSError):
        runs.write_run(result, J, tmp_path / "full")
    assert {"shape.json", "summary.json", "history.json"} <= {p.name for p in (tmp_path / "full").iterdir()}


def p2_area_centroid(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Area and centroid of the closed chain of quadratic edges (points 2k, 2k+1, 2k+2), integrated
    exactly (Green's theorem, 5-point Gauss-Legendre on each edge)."""
    start, middle, end = points[0::2], points[1::2], np.roll(points[0::2], -1, axis=0)
    t, w = np.polynomial.legendre.leggauss(5)
    t, w = (t + 1) / 2, w / 2
    x = np.outer(2 * (1 - t) * (0.5 - t), start[:, 0]) + np.outer(4 * t * (1 - t), middle[:, 0])
    x += np.outer(t * (2 * t - 1), end[:, 0])
    y = np.outer(2 * (1 - t) * (0.5 - t), start[:, 1]) + np.outer(4 * t * (1 - t), middle[:, 1])
    y += np.outer(t * (2 * t - 1), end[:, 1])
    dx = np.outer(4 * t - 3, start[:, 0]) + np.outer(4 - 8 * t, middle[:, 0]) + np.outer(4 * t - 1, end[:, 0])
    dy = np.outer(4 * t - 3, start[:, 1]) + np.outer(4 - 8 * t, middle[:, 1]) + np.outer(4 * t - 1, end[:, 1])
    area = np.sum(w[:, None] * x * dy)
    moments = np.sum(w[:, None] * 0.5 * x**2 * dy), -np.sum(w[:, None] * 0.5 * y**2 * dx)
    return float(area), np.array(moments) / area


def test_the_optimum_outline_file_is_the_body_the_solver_used(problem, tmp_path, monkeypatch):
    """outline.csv read back: the mesh's boundary edges at the optimum, counter-clockwise from the rear
    tip; their area and centroid are the solver's to 1e-10."""
    settings = TrustRegionSettings(global_samples=256, starts=1, max_steps=2)
    J = ReducedFunctional(problem)
    result = optimize_surrogate(J, random_surrogate(problem), settings)
    monkeypatch.setattr(runs, "render_speed", lambda *args, **kwargs: None)
    runs.write_run(result, J, tmp_path)
    points = read_outline(tmp_path / "outline.csv")
    area, centroid, _, _ = problem.space.body.area_centroid(np.asarray(result.final.s))
    read_area, read_centroid = p2_area_centroid(points)
    assert abs(read_area - area) < 1e-10 and np.allclose(read_centroid, centroid, atol=1e-10)
    assert points[0, 0] == pytest.approx(np.max(points[:, 0]), abs=0.05)  # the rear tip first
    assert read_area > 0  # counter-clockwise
    header = (tmp_path / "outline.csv").read_text()
    assert f"# cd: {result.final.objective_value}" in header and f"# re: {J.re}" in header
    selig = (tmp_path / "outline.dat").read_text().splitlines()
    assert len(selig) == len(points) + 2 and selig[1] == selig[-1]


RUN_OPTIONS = (
    "--level",
    "coarse",
    "--samples",
    "24",
    "--epochs",
    "300",
    "--search-samples",
    "4096",
    "--workers",
    "1",
)


def run_tiny(cwd: Path) -> subprocess.CompletedProcess:
    """`shapeopt run` of the narrow Re 40 case on the coarse mesh with a 24-sample dataset, in `cwd`."""
    command = shapeopt_command(
        "run", str(CASES / "fourier4-re40.toml"), *RUN_OPTIONS, "--out", "runs/tiny", "--json"
    )
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    """The folder a tiny `run` ran in, and its summary."""
    cwd = tmp_path_factory.mktemp("run")
    proc = run_tiny(cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, json.loads(proc.stdout)


@pytest.mark.slow
def test_run_writes_a_converged_optimization_and_its_report(tiny_run):
    cwd, summary = tiny_run
    assert summary["final"]["cd"] < summary["initial"]["cd"] and summary["converged"]
    assert not summary["dataset_reused"] and not summary["surrogate_reused"]
    run = cwd / "runs" / "tiny"
    for name in ("report.md", "summary.json", "shape.json", "history.json", "shapes.png", "flow.png"):
        assert (run / name).stat().st_size > 0, name
    assert (run / "history.png").stat().st_size > 0
    assert "FEM solves" in (run / "report.md").read_text()


@pytest.mark.slow
def test_a_second_run_reuses_the_dataset_and_the_surrogate(tiny_run, tmp_path):
    cwd, summary = tiny_run
    shutil.copytree(cwd / "data", tmp_path / "data")
    proc = run_tiny(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads(proc.stdout)
    assert again["dataset_reused"] and again["surrogate_reused"]
    assert again["final"]["cd"] == summary["final"]["cd"]


@pytest.mark.slow
def test_a_surrogate_trained_with_another_loss_weight_is_not_reused(tiny_run, monkeypatch):
    cwd, summary = tiny_run
    monkeypatch.chdir(cwd)  # the run's paths are relative to where it ran
    stored_path, data_path = Path(summary["surrogate"]), Path(summary["dataset"])
    J = ReducedFunctional(DragProblem(load_case(CASES / "fourier4-re40.toml").with_overrides(level="coarse")))
    wanted = TrainSettings(method="sobolev", epochs=300, seed=0)
    assert matching_surrogate(stored_path, J, data_path, wanted)[1]
    other = dataclasses.replace(wanted, gamma=wanted.gamma / 10)
    assert matching_surrogate(stored_path, J, data_path, other) == (None, False)


@pytest.mark.slow
def test_refit_appends_the_verified_samples_and_tunes_the_surrogate(tiny_run, tmp_path):
    cwd, summary = tiny_run
    shutil.copytree(cwd / "data", tmp_path / "data")
    command = shapeopt_command(
        "optimize",
        str(CASES / "fourier4-re40.toml"),
        "--level",
        "coarse",
        "--method",
        "surrogate",
        "--surrogate",
        summary["surrogate"],
        "--refit",
        "--out",
        "runs/refit",
        "--json",
    )
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    refit = json.loads(proc.stdout)
    with h5py.File(tmp_path / summary["dataset"], "r") as f:
        indices = f["index"][: f["committed"].shape[0]]
    assert np.sum(indices >= VERIFIED_INDEX) == refit["fem_solves"] == refit["refit"]["appended"]
    assert refit["refit"]["metrics"]["cd_error_median"] < 0.05


@pytest.mark.slow
def test_dataset_surrogate_and_trust_region_work_in_the_wide_space(tmp_path):
    """The learning route over its wide space (`wide-re1-40.toml`, 24 coefficients on uniform knots) on
    the coarse mesh: a 12-sample dataset, a briefly trained surrogate, and FEM-verified trust-region steps
    that lower the FEM drag."""
    case = dataclasses.replace(
        load_case(CASES / "wide-re1-40.toml").with_overrides(level="coarse", re=40.0), re_range=(20.0, 40.0)
    )
    summary = generate(case, tmp_path / "wide.h5", 12)
    assert summary["computed"] == 12 and summary["failed"] <= 2
    data = read_dataset(tmp_path / "wide.h5")
    settings = TrainSettings(method="sobolev", epochs=200, batch=8, width=32, depth=2, budget_seconds=60)
    model = train(data, settings, {"case": case.name}).surrogate
    J = ReducedFunctional(DragProblem(case))
    model.check_compatible(parameter_spec(case), J.problem.flow_mesh.sha256, (J.re, J.re))
    result = optimize_surrogate(J, model, TrustRegionSettings(global_samples=2048, starts=2, max_steps=4))
    assert result.final.objective_value < result.initial.objective_value
    assert all(step.violation < 1e-8 for step in result.history)  # every iterate meets the constraints
