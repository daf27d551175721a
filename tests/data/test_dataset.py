"""Datasets: constraint-satisfying designs, resume, kill -9, failure records, MPI ranks."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from shapeopt.cases import load_case
from shapeopt.cli import main
from shapeopt.data.dataset import generate
from shapeopt.fem.problem import DragProblem
from surrogates.datafile import read_dataset
from tests.helpers import CASES, shapeopt_command

CASE = CASES / "cylinder-re1-40.toml"


@pytest.fixture(scope="module")
def case():
    return load_case(CASE).with_overrides(level="coarse")


def test_designs_meet_constraints_and_bounds(case):
    problem = DragProblem(case)
    s, re, feasible = problem.space.sobol_samples(32, 0, problem.case.re_bounds)
    assert feasible.mean() > 0.8
    bounds = problem.space.bounds
    for si in s[feasible]:
        assert np.max(np.abs(problem.space.constraints(si)[0])) < 1e-10
        assert np.all(si >= bounds[:, 0]) and np.all(si <= bounds[:, 1])
    assert re.min() >= 1.0 and re.max() <= 40.0
    # Deterministic, and a longer design starts with the shorter one (resumable).
    s8, re8, _ = problem.space.sobol_samples(8, 0, problem.case.re_bounds)
    assert np.array_equal(s8, s[:8]) and np.array_equal(re8, re[:8])


def test_generate_resumes_without_duplicates(case, tmp_path):
    out = tmp_path / "d.h5"
    first = generate(case, out, 3)
    second = generate(case, out, 5)
    assert (first["computed"], second["computed"]) == (3, 2)
    assert generate(case, out, 5)["computed"] == 0
    data = read_dataset(out)
    with h5py.File(out, "r") as f:
        assert sorted(f["index"][:].tolist()) == [0, 1, 2, 3, 4]
    assert len(data) + data.failed == 5
    assert data.state.shape[1] == len(data.weights) and np.all(data.weights > 0)
    assert data.mesh_sha256 and data.re_range == (1.0, 40.0)
    # The stored gradient is the adjoint's: compare one sample with a fresh evaluation.
    problem = DragProblem(case)
    fresh = problem.evaluate(data.s[0], gradient=True, re=data.re[0])
    assert abs(fresh.objective / data.cd[0] - 1) < 1e-9
    assert np.allclose(fresh.gradient, data.dcd[0], rtol=1e-6, atol=1e-9)


def test_failures_are_recorded_with_their_reason(case, tmp_path):
    import dataclasses

    strict = dataclasses.replace(case, shape=dataclasses.replace(case.shape, min_quality=0.995))
    out = tmp_path / "f.h5"
    summary = generate(strict, out, 4)
    assert summary["failed"] >= 1
    with h5py.File(out, "r") as f:
        reasons = [r.decode() for r, status in zip(f["reason"][:], f["status"][:], strict=True) if status]
    assert all("distorts the mesh" in r or "constraints" in r for r in reasons) and reasons


@pytest.mark.slow
def test_kill_minus_nine_keeps_a_readable_file_and_resume_completes(tmp_path):
    out = tmp_path / "k.h5"
    command = shapeopt_command(
        "dataset", str(CASE), "--level", "coarse", "--samples", "12", "--out", str(out)
    )
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            with h5py.File(out, "r", swmr=True) as f:
                if f["committed"].shape[0] >= 3:
                    break
        except (OSError, KeyError):
            continue
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_dataset(out)  # readable after the kill
    stored = len(partial) + partial.failed
    assert 3 <= stored < 12
    subprocess.run(command, check=True, capture_output=True)
    with h5py.File(out, "r") as f:
        indices = f["index"][: f["committed"].shape[0]].tolist()
    assert sorted(indices) == list(range(12))


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.skipif(shutil.which(str(Path(sys.executable).parent / "mpirun")) is None, reason="no mpirun")
def test_two_ranks_write_the_same_samples_as_serial(case, tmp_path, capsys):
    mpirun = str(Path(sys.executable).parent / "mpirun")
    args = ("dataset", str(CASE), "--level", "coarse", "--samples", "4", "--json")
    subprocess.run(
        [mpirun, "-n", "2", *shapeopt_command(*args, "--out", str(tmp_path / "p.h5"))],
        check=True,
        capture_output=True,
    )
    assert main([*args, "--out", str(tmp_path / "s.h5")]) == 0  # serial, in this process
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == 4
    parallel, serial = read_dataset(tmp_path / "p.h5"), read_dataset(tmp_path / "s.h5")
    assert np.array_equal(parallel.s, serial.s)
    assert np.allclose(parallel.cd, serial.cd, rtol=1e-9)


def test_designs_in_the_wide_space_are_admissible_shapes():
    """Uniform designs in the wide box (16 B-spline coefficients, |c| ≤ 3) are almost never simple curves;
    halved towards the circle they all become admissible, each keeping its direction."""
    problem = DragProblem(load_case(CASES / "cylinder-re40.toml").with_overrides(level="coarse"))
    s, _, feasible = problem.space.sobol_samples(64, 0, problem.case.re_bounds)
    assert feasible.all()
    low, high = problem.space.shape.radius_ratio_range(s)
    assert np.all(low > 0.05) and np.all(high * problem.space.shape.r0 < problem.space.max_body_radius)
    values, _ = problem.space.constraints_batch(s)
    assert np.max(np.abs(values)) < 1e-10
    assert np.median(np.max(np.abs(s), axis=1)) > 0.5  # not collapsed onto the circle
