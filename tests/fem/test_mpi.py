"""The solver under mpirun: same coefficients as in serial, outputs written once."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from shapeopt.cli import main
from tests.helpers import CASES, MPIRUN, shapeopt_command


def serial_json(args: tuple[str, ...], capsys) -> dict:
    """What `shapeopt ARGS` (with --json, no --out) prints, run serially in this process."""
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.skipif(not Path(MPIRUN).exists() and shutil.which("mpirun") is None, reason="no mpirun")
def test_two_ranks_match_serial(tmp_path, capsys):
    mpirun = MPIRUN if Path(MPIRUN).exists() else "mpirun"
    args = ("solve", str(CASES / "dfg-2d1.toml"), "--level", "coarse", "--json")
    serial = serial_json(args, capsys)
    proc = subprocess.run(
        [mpirun, "-n", "2", *shapeopt_command(*args, "--out", str(tmp_path / "run"))],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # printed by rank 0 only
    parallel = json.loads(lines[0])
    assert parallel["ranks"] == 2 and parallel["dofs"] == serial["dofs"]
    assert parallel["mesh_sha256"] == serial["mesh_sha256"]
    for key in ("cd", "cl", "pressure_drop", "cd_surface"):
        assert abs(parallel[key] / serial[key] - 1) < 1e-8, key
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["result"]["ranks"] == 2
    assert (tmp_path / "run" / "flow.png").stat().st_size > 10_000
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "flow.png",
        "pressure.bp",
        "summary.json",
        "velocity.bp",
    ]


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.skipif(not Path(MPIRUN).exists() and shutil.which("mpirun") is None, reason="no mpirun")
def test_adjoint_gradient_on_two_ranks_matches_serial(capsys):
    mpirun = MPIRUN if Path(MPIRUN).exists() else "mpirun"
    args = ("gradient", str(CASES / "cylinder-re20.toml"), "--level", "coarse", "--json")
    serial = serial_json(args, capsys)
    proc = subprocess.run(
        [mpirun, "-n", "2", *shapeopt_command(*args)], capture_output=True, text=True, check=True
    )
    parallel = json.loads(proc.stdout)
    scale = max(abs(g) for g in serial["dcd_ds"])
    for a, b in zip(parallel["dcd_ds"], serial["dcd_ds"], strict=True):
        assert abs(a - b) < 1e-7 * scale


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.skipif(not Path(MPIRUN).exists() and shutil.which("mpirun") is None, reason="no mpirun")
def test_optimize_on_two_ranks_ends_when_done(tmp_path):
    """The ranks tear their solvers down together: left to the garbage collector, one rank destroyed its
    LU factorisation (collective) while the other was elsewhere, and the finished run never exited. Three
    SLSQP iterations end the run (exit 6, not converged) with its files written, as a converged one does."""
    mpirun = MPIRUN if Path(MPIRUN).exists() else "mpirun"
    case = tmp_path / "short.toml"
    case.write_text(
        (CASES / "cylinder-re20.toml").read_text().replace("max_iterations = 200", "max_iterations = 3")
    )
    args = ("optimize", str(case), "--level", "coarse", "--method", "slsqp", "--out", str(tmp_path / "run"))
    proc = subprocess.run(
        [mpirun, "-n", "2", *shapeopt_command(*args, "--json")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 6, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert not summary["converged"] and "Iteration limit" in summary["message"], summary["message"]
    assert summary["final"]["cd"] < summary["initial"]["cd"] and (tmp_path / "run" / "outline.csv").is_file()
