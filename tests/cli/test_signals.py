"""SIGTERM (what batch schedulers send) ends a command as Ctrl-C does, with exit code 143 and one line, the
finished work kept; worker processes end with their parent, `kill -9` included."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import surrogates
from shapeopt.cli.signals import sigterm_as_interrupt
from shapeopt.data.verified import refit_surrogate
from shapeopt.errors import InterruptedWorkError
from surrogates.datafile import read_dataset
from surrogates.settings import TrainSettings
from surrogates.train import train
from tests.helpers import (
    CASES,
    MPIRUN,
    RANGE_CASE,
    endless_training_command,
    shapeopt_command,
    wait_for_count,
    wait_for_line,
    write_synthetic_dataset,
)

TERMINATED = "shapeopt: error: terminated (SIGTERM)"
STORED = r"^\[(\d+)/500\]"  # the samples stored, in a dataset progress line


def started(
    command: list[str], fragment: str, least: int | None = None, timeout: float = 180
) -> subprocess.Popen:
    """`command` started, once a line of its stderr holds `fragment`; with `least`, once `fragment` is a
    regular expression whose count in a line is at least `least` (`wait_for_count`)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if least is None:
            wait_for_line(proc, fragment, timeout)
        else:
            wait_for_count(proc, fragment, least, timeout)
    except AssertionError:
        proc.kill()
        raise
    return proc


def dataset_command(out: Path, workers: str) -> list[str]:
    """`shapeopt dataset` of 500 samples of the Re 1–40 case into `out` with `workers` processes."""
    return shapeopt_command(
        "dataset",
        RANGE_CASE,
        "--level",
        "coarse",
        "--samples",
        "500",
        "--workers",
        workers,
        "--out",
        str(out),
    )


def terminated(proc: subprocess.Popen) -> list[str]:
    """SIGTERM to `proc`; its exit code must be 143 and its last line the one line of the stop. Returns
    the stderr lines after the signal."""
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read().splitlines()
    assert proc.wait(timeout=60) == 143, rest
    assert rest and rest[-1].startswith(TERMINATED), rest
    assert not [line for line in rest[:-1] if not line.startswith(("iter", "epoch", "["))], (
        rest
    )  # progress only
    return rest


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie waiting to be reaped has ended)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def assert_ended(pids: list[int], within: float = 10) -> None:
    deadline = time.time() + within
    while time.time() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.1)
    assert not [pid for pid in pids if running(pid)], "orphaned worker processes"


@pytest.mark.slow
def test_sigterm_during_optimize_exits_143_and_keeps_the_history(tmp_path):
    out = tmp_path / "run"
    command = shapeopt_command(
        "optimize", str(CASES / "cylinder-re40.toml"), "--level", "coarse", "--out", str(out)
    )
    rest = terminated(started(command, "iter   1"))
    assert "the files written so far are kept" in rest[-1]
    history = json.loads((out / "history.json").read_text())["history"]
    assert len(history) >= 2 and [h["iteration"] for h in history] == list(range(len(history)))


@pytest.mark.slow
def test_sigterm_during_training_saves_the_best_network_so_far(tmp_path):
    data, out = tmp_path / "d.h5", tmp_path / "s.pt"
    write_synthetic_dataset(data)
    rest = terminated(started(endless_training_command(data, out), "epoch 0 "))
    assert rest[-1].startswith(f"{TERMINATED} after") and str(out) in rest[-1]
    model = surrogates.load(out)
    assert model.meta["metrics"]["interrupted"] and model.meta["metrics"]["epochs"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_during_dataset_keeps_the_samples_and_ends_the_workers(workers, tmp_path):
    out = tmp_path / "d.h5"
    command = dataset_command(out, workers)
    proc = started(command, STORED, 1)
    workers_of = children(proc.pid)
    rest = terminated(proc)
    assert "the files written so far are kept" in rest[-1]
    assert_ended(workers_of)
    data = read_dataset(out)
    assert 1 <= len(data) + data.failed < 500


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.skipif(shutil.which(MPIRUN) is None, reason="no mpirun")
def test_sigterm_to_mpirun_exits_143_in_one_line_and_keeps_the_samples(tmp_path):
    out = tmp_path / "m.h5"
    command = [
        MPIRUN,
        "-n",
        "2",
        *shapeopt_command("dataset", RANGE_CASE, "--level", "coarse", "--samples", "500", "--out", str(out)),
    ]
    rest = terminated(started(command, STORED, 1))
    assert "the files written so far are kept" in rest[-1]
    data = read_dataset(out)
    assert 1 <= len(data) + data.failed < 500


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
def test_dataset_workers_end_with_their_parent(stop, tmp_path):
    command = dataset_command(tmp_path / "d.h5", "2")
    proc = started(command, STORED, 1)
    workers = children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(stop)
    proc.wait(timeout=60)
    assert_ended(workers, within=5)


@pytest.mark.slow
def test_physics_workers_end_with_their_parent():
    """`train --workers`'s FEM physics processes, their parent killed with kill -9 while they wait."""
    script = (
        "import time\n"
        "from shapeopt.cases import load_case\n"
        "from shapeopt.data.physics_pool import PhysicsPool\n"
        f"pool = PhysicsPool(load_case({RANGE_CASE!r}).with_overrides(level='coarse'), 2)\n"
        "print('ready', file=__import__('sys').stderr, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = started([sys.executable, "-c", script], "ready")
    workers = children(proc.pid)
    assert len(workers) >= 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert_ended(workers, within=5)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_during_a_refit_ends_it_keeping_the_best_network(tmp_path, sig):
    """The training loop catches Ctrl-C (and SIGTERM as Ctrl-C) to keep its best network; a refit (of
    `optimize --refit` and the atlas's) then ends the work in one interruption instead of going on."""
    data, path = tmp_path / "data.h5", tmp_path / "model.pt"
    write_synthetic_dataset(data)
    settings = TrainSettings(method="supervised", epochs=2, device="cpu", width=16, depth=1)
    train(read_dataset(data), settings, {"dataset": str(data)}).surrogate.save(path)
    model = surrogates.load(path)
    # Python's own SIGINT handler, installed again at the C level: a library an earlier test of this
    # process loaded may have put its own there, which would swallow the Ctrl-C this test sends
    signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), sig))
    with sigterm_as_interrupt() as stop:
        timer.start()
        with pytest.raises(InterruptedWorkError, match="interrupted in the surrogate's refit after"):
            refit_surrogate(model, path, data, epochs=10**6, budget_seconds=60)
    timer.join()
    assert stop.terminated == (sig == signal.SIGTERM)
    assert surrogates.load(path).meta["metrics"]["interrupted"]
