"""Fault injection through the CLI on datasets and surrogates that are damaged or odd: cut short, a
flipped bit in the state weights, an older HDF5 layout, a lock file that is a folder, a symlink to a file
another process writes, a resume with another seed, a surrogate with odd metadata or NaN weights, a
dataset made in another box. Each ends in one line `shapeopt: error: ...`, exit code 2, within seconds
(each command runs in a process of its own, so a hang fails the test), and leaves every input file as it
was. Rows: command line (placeholders below), expected message."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import time

import h5py
import pytest

from tests.helpers import (
    CASES,
    RANGE_CASE,
    hold_dataset_writer,
    shapeopt_command,
    write_synthetic_dataset,
)
from tests.surrogates.test_damaged_files import flipped_weights_copy, made_elsewhere, write_surrogate

pytestmark = pytest.mark.slow  # a process per command (the same faults without the CLI: not slow)

CUTS = (8, 10, 20, 30, 47)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The rows' inputs: a dataset (DATA), copies cut to CUTn bytes, one with a flipped state weight
    (WEIGHTS), one in HDF5's older layout (OLD), one whose lock file is a folder (LOCKDIR), one made in
    another box (BOX30), and surrogates without a mesh hash (NOHASH), with re_range "x" (REX), with a
    NaN or an inf weight (NAN, INF)."""
    root = tmp_path_factory.mktemp("faults")
    data = root / "data.h5"
    write_synthetic_dataset(data)
    for size in CUTS:
        (root / f"cut{size}.h5").write_bytes(data.read_bytes()[:size])
    flipped_weights_copy(data).rename(root / "weights.h5")
    with h5py.File(data, "r") as src, h5py.File(root / "old.h5", "w") as dst:  # superblock version 0
        for name, value in src.attrs.items():
            dst.attrs[name] = value
        for name in src:
            src.copy(src[name], dst, name)
    (root / "locked").mkdir()
    write_synthetic_dataset(root / "locked" / "data.h5")
    (root / "locked" / "data.h5.lock").unlink()
    (root / "locked" / "data.h5.lock").mkdir()
    write_synthetic_dataset(root / "box30.h5")
    made_elsewhere(root / "box30.h5")
    write_surrogate(root / "nohash.pt", drop=("mesh_sha256",))
    write_surrogate(root / "rex.pt", meta_changes={"re_range": "x"})
    write_surrogate(root / "nan.pt", poison=float("nan"))
    write_surrogate(root / "inf.pt", poison=float("inf"))
    return root


COARSE = ["--level", "coarse"]
DATASET = ["dataset", RANGE_CASE, *COARSE, "--samples", "30", "--out"]
TRAIN = ["train", RANGE_CASE, *COARSE, "--out", "OUT/s.pt", "--data"]
OPTIMIZE = ["optimize", str(CASES / "fourier4-re40.toml"), *COARSE, "--out", "OUT/run", "--method"]
ROWS = [
    # 4. cut inside the superblock, older layout: refused at once (h5py's SWMR open would hang)
    *[([*DATASET, f"cut{n}.h5"], f"truncated to {n} bytes, inside its HDF5 superblock") for n in CUTS],
    ([*DATASET, "old.h5"], "older HDF5 layout (superblock version 0)"),
    # 5. cut datasets to train; a lock file that is a folder
    *[([*TRAIN, f"cut{n}.h5"], f"truncated to {n} bytes") for n in CUTS],
    ([*DATASET, "locked/data.h5"], "data.h5.lock is not a lock file; remove it"),
    # 2. a flipped bit in the state weights
    ([*TRAIN, "weights.h5"], "damaged: its settings or state weights fail their checksum"),
    ([*DATASET, "weights.h5"], "damaged: its settings or state weights fail their checksum"),
    # 3. a refused resume changes nothing (the unchanged files are checked for every row)
    ([*DATASET[:-1], "--seed", "1", "--out", "data.h5"], "seed 0 ≠ 1"),
    # 6. surrogates
    *[
        ([*OPTIMIZE, "surrogate", "--surrogate", name], message)
        for name, message in [
            ("nohash.pt", "meta mesh_sha256 '(missing)' is not a mesh hash"),
            ("rex.pt", "meta re_range 'x' is not [low, high]"),
            ("nan.pt", "weight mlp.0.weight is not finite"),
            ("inf.pt", "weight mlp.0.weight is not finite"),
        ]
    ],
    # 7. a dataset made in another box
    ([*TRAIN, "box30.h5"], "other settings (domain.upstream 30.0 ≠ 40.0)"),
]


def fingerprint(folder) -> dict[str, str]:
    """sha256 of every file under `folder` but the lock files (a writer records itself there)."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


def run_cli(argv, cwd, timeout=120):
    return subprocess.run(shapeopt_command(*argv), capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.mark.parametrize(
    ("argv", "message"), ROWS, ids=lambda v: " ".join(v[-4:]) if isinstance(v, list) else None
)
def test_a_damaged_or_odd_file_is_one_line_exit_2_and_changes_nothing(argv, message, files, tmp_path):
    before = fingerprint(files)
    start = time.perf_counter()
    proc = run_cli([a.replace("OUT/", f"{tmp_path}/") for a in argv], cwd=files)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("shapeopt: error: "), proc.stderr
    assert message in proc.stderr, proc.stderr
    assert time.perf_counter() - start < 60
    assert fingerprint(files) == before
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_to_a_dataset_being_written_is_refused_and_stays_a_link(tmp_path):
    target, link = tmp_path / "data.h5", tmp_path / "link.h5"
    write_synthetic_dataset(target)
    link.symlink_to(target)
    holder = hold_dataset_writer(target)
    try:
        before = target.read_bytes()
        proc = run_cli([*DATASET, str(link)], cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and f"being written by pid {holder.pid}" in proc.stderr
        assert link.is_symlink() and link.resolve() == target and target.read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
