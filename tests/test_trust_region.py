"""Trust-region model management: FEM-verified convergence even with a useless surrogate."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from conftest import CASES

from shapeopt.cases import load_case
from shapeopt.dataset import spec_of
from shapeopt.optimize import fem_solves_to_kkt, fem_solves_to_within, optimize_adjoint
from shapeopt.pipeline import VERIFIED_INDEX, _matching_surrogate
from shapeopt.problem import DragProblem
from shapeopt.shapes import RadialShape
from shapeopt.trust_region import TrustRegionSettings, mirror_averaged, optimize_surrogate
from surrogates import Surrogate
from surrogates.network import DragNet
from surrogates.pod import POD
from surrogates.train import TrainSettings


def random_surrogate(problem: DragProblem, seed: int = 0) -> Surrogate:
    """An untrained network: smooth, O(1), and wrong everywhere (its drag has nothing to do with the flow)."""
    torch.manual_seed(seed)
    net = DragNet(problem.size, 1, width=16, depth=2)
    n = len(problem.solver.w.x.array)
    pod = POD(np.zeros(n), np.zeros((n, 1)), np.ones(n), np.ones(1), 1.0)
    meta = {
        "spec": spec_of(problem),
        "mesh_sha256": problem.flow_mesh.sha256,
        "re_range": [1.0, 100.0],
        "method": "untrained",
    }
    return Surrogate(net, pod, meta)


@pytest.fixture(scope="module")
def problem():
    return DragProblem(load_case(CASES / "cylinder-re40.toml").with_overrides(level="coarse"))


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


def test_poor_surrogate_still_reaches_the_fem_optimum(problem):
    surrogate = random_surrogate(problem)
    settings = TrustRegionSettings(global_samples=2048, starts=2, max_steps=60)
    result = optimize_surrogate(problem, surrogate, settings)
    assert result.converged, result.message
    assert result.history[-1].kkt_residual <= settings.kkt_tolerance
    assert np.max(np.abs(problem.constraints(np.asarray(result.final["s"]))[0])) < 1e-9
    # The surrogate's own optimum is far from the FEM's; the corrections carry the answer there.
    surrogate_start = result.history[0]
    assert abs(surrogate_start.surrogate_cd - surrogate_start.cd) > 0.05
    reference = optimize_adjoint(DragProblem(problem.case))
    assert abs(result.final["cd"] / reference.final["cd"] - 1) < 1e-5
    assert result.final["cd"] < 0.9 * result.initial["cd"]


def test_run_end_to_end_on_a_tiny_case(tmp_path, monkeypatch):
    import json
    import subprocess

    from conftest import shapeopt_command

    command = shapeopt_command(
        "run",
        str(CASES / "cylinder-re10.toml"),
        "--level",
        "coarse",
        "--samples",
        "24",
        "--epochs",
        "300",
        "--search-samples",
        "4096",
        "--out",
        "runs/tiny",
        "--json",
    )
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["final"]["cd"] < summary["initial"]["cd"] and summary["converged"]
    assert not summary["dataset_reused"] and not summary["surrogate_reused"]
    run = tmp_path / "runs" / "tiny"
    for name in (
        "report.md",
        "summary.json",
        "shape.json",
        "history.json",
        "shapes.png",
        "flow.png",
        "history.png",
    ):
        assert (run / name).stat().st_size > 0, name
    assert "FEM solves" in (run / "report.md").read_text()
    again = json.loads(
        subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    )
    assert again["dataset_reused"] and again["surrogate_reused"]
    assert again["final"]["cd"] == summary["final"]["cd"]

    # A stored surrogate trained with another loss weight is not reused.
    monkeypatch.chdir(tmp_path)  # the run's paths are relative to where it ran
    stored_path, data_path = Path(again["surrogate"]), Path(again["dataset"])
    problem = DragProblem(load_case(CASES / "cylinder-re10.toml").with_overrides(level="coarse"))
    wanted = TrainSettings(method="sobolev", epochs=300, seed=0)
    assert _matching_surrogate(stored_path, problem, data_path, wanted)[1]
    other = dataclasses.replace(wanted, gamma=wanted.gamma / 10)
    assert _matching_surrogate(stored_path, problem, data_path, other) == (None, False)

    # Refit: the verified samples of a surrogate optimization go into the dataset, the surrogate is tuned.
    model_path = "data/cylinder-re10-coarse-n24-seed0-sobolev.pt"
    before = subprocess.run(
        [
            *shapeopt_command(
                "optimize",
                str(CASES / "cylinder-re10.toml"),
                "--level",
                "coarse",
                "--method",
                "surrogate",
                "--surrogate",
                model_path,
                "--refit",
                "--out",
                "runs/refit",
                "--json",
            )
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert before.returncode == 0, before.stderr[-3000:]
    refit = json.loads(before.stdout)
    with h5py.File(tmp_path / "data" / "cylinder-re10-coarse-n24-seed0.h5", "r") as f:
        indices = f["index"][: f["committed"].shape[0]]
    assert np.sum(indices >= VERIFIED_INDEX) == refit["fem_solves"]
    assert "fine-tuned" in before.stderr


def test_fem_solves_to_within_counts_until_the_first_feasible_close_iterate():
    def step(cd, violation, solves, kkt=1.0):
        return SimpleNamespace(cd=cd, violation=violation, fem_solves=solves, kkt_residual=kkt)

    history = [step(2.0, 0.0, 1), step(1.004, 1e-3, 3), step(1.004, 1e-8, 4), step(1.00001, 0.0, 6, 5e-5)]
    assert fem_solves_to_within(history, 1.0, 5e-3) == 4  # the infeasible iterate at 3 solves does not count
    assert fem_solves_to_within(history, 1.0, 1e-4) == 6
    assert fem_solves_to_within(history, 1.0, 1e-6) is None
    assert fem_solves_to_kkt(history, 1e-4) == 6 and fem_solves_to_kkt(history, 1e-5) is None
