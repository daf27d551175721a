"""Faults during long work: Ctrl-C, a second writer, kill -9 under MPI. Nothing finished is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

import surrogates
from shapeopt.cli import main
from surrogates.datafile import read_dataset
from tests.helpers import (
    CASES,
    MPIRUN,
    RANGE_CASE,
    endless_training_command,
    interruptible,
    shapeopt_command,
    started_interruptible,
    wait_for_line,
    write_synthetic_dataset,
)


def committed(path: Path) -> int:
    try:
        with h5py.File(path, "r", swmr=True) as f:
            return f["committed"].shape[0]
    except (OSError, KeyError):
        return 0


@pytest.mark.slow
def test_ctrl_c_during_optimize_exits_130_in_one_line_and_keeps_the_history(tmp_path):
    out = tmp_path / "run"
    command = shapeopt_command(
        "optimize", str(CASES / "cylinder-re40.toml"), "--level", "coarse", "--out", str(out)
    )
    proc = started_interruptible(command)
    wait_for_line(proc, "iter   1")
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read().splitlines()
    assert proc.wait(timeout=60) == 130
    assert rest == ["shapeopt: error: interrupted; the files written so far are kept"] or (
        # the signal may land between two progress lines
        rest[-1].startswith("shapeopt: error: interrupted") and all(r.startswith("iter") for r in rest[:-1])
    )
    history = json.loads((out / "history.json").read_text())["history"]
    assert len(history) >= 2 and [h["iteration"] for h in history] == list(range(len(history)))


@pytest.mark.slow
def test_ctrl_c_during_meshing_ends_the_process_at_once():
    """gmsh runs as compiled code that Python's Ctrl-C handler cannot stop; while it meshes, Ctrl-C must
    end the process anyway. Stand-in for a long gmsh call: a long numpy SVD (compiled code too)."""
    script = (
        "import numpy as np\n"
        "from shapeopt.fem.meshing import ctrl_c_ends_the_process\n"
        "a = np.random.default_rng(0).random((4000, 4000))\n"
        "with ctrl_c_ends_the_process():\n"
        "    print('busy', flush=True)\n"
        "    np.linalg.svd(a)\n"
        "print('finished', flush=True)\n"
    )
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env, preexec_fn=interruptible
    )
    assert proc.stdout.readline().strip() == "busy"
    time.sleep(0.5)
    start = time.time()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == -signal.SIGINT
    assert time.time() - start < 2, "Ctrl-C waited for the compiled code to finish"
    assert proc.stdout.read() == ""


@pytest.mark.slow
def test_a_second_dataset_writer_is_refused_and_the_first_keeps_all_its_samples(tmp_path, capsys):
    out = tmp_path / "d.h5"
    args = ("dataset", RANGE_CASE, "--level", "coarse", "--samples", "8", "--out", str(out))
    first = subprocess.Popen(
        shapeopt_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_line(first, "[1/8]")
    assert main(list(args)) == 2  # in this process: refused before any work
    refused = capsys.readouterr().err
    assert refused.count("\n") == 1 and f"being written by pid {first.pid}" in refused
    first.communicate(timeout=300)
    assert first.returncode == 0
    with h5py.File(out, "r") as f:
        assert sorted(f["index"][: f["committed"].shape[0]].tolist()) == list(range(8))


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.skipif(shutil.which(MPIRUN) is None, reason="no mpirun")
def test_kill_minus_nine_under_mpi_then_resume_completes_without_duplicates(tmp_path):
    out = tmp_path / "m.h5"
    command = [
        MPIRUN,
        "-n",
        "2",
        *shapeopt_command("dataset", RANGE_CASE, "--level", "coarse", "--samples", "12", "--out", str(out)),
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and committed(out) < 4:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = read_dataset(out)
    assert 4 <= len(partial) + partial.failed < 12
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    with h5py.File(out, "r") as f:
        indices = f["index"][: f["committed"].shape[0]].tolist()
    assert sorted(indices) == list(range(12))
    assert len(read_dataset(out)) + read_dataset(out).failed == 12


@pytest.mark.slow
def test_ctrl_c_during_training_keeps_the_best_network_so_far(tmp_path):
    data, out = tmp_path / "d.h5", tmp_path / "s.pt"
    write_synthetic_dataset(data)
    proc = started_interruptible(endless_training_command(data, out))
    wait_for_line(proc, "epoch 0 ")  # the first progress line: one epoch validated
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read().splitlines()
    assert proc.wait(timeout=60) == 130
    assert rest[-1].startswith("shapeopt: error: interrupted after") and str(out) in rest[-1]
    model = surrogates.load(out)
    assert model.meta["metrics"]["interrupted"] and model.meta["metrics"]["epochs"] >= 1
