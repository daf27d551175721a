"""The dataset format: damage is refused and never rewritten, one writer at a time, resume only under the
same settings. No FEM here: the datasets are synthetic (`tests.helpers.write_synthetic_dataset`)."""

from __future__ import annotations

import contextlib
import io
import signal
import time
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from shapeopt.cli import main
from surrogates.datafile import DatasetError, SampleFile, read_dataset, read_identity
from tests.helpers import CASES, hold_dataset_writer, write_synthetic_dataset


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "samples.h5"
    write_synthetic_dataset(path)
    return path


def truncated_copy(path, fraction=2 / 3):
    copy = path.with_name("truncated.h5")
    data = path.read_bytes()
    copy.write_bytes(data[: int(len(data) * fraction)])
    return copy


def flipped_copy(path, sample=3, byte=17):
    """A copy with one bit of sample `sample`'s state flipped."""
    with h5py.File(path, "r") as f:
        offset = f["state"].id.get_chunk_info(sample).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + byte] ^= 0x10
    copy = path.with_name("flipped.h5")
    copy.write_bytes(bytes(data))
    return copy


def test_an_intact_dataset_reads_back_all_its_samples(dataset):
    data = read_dataset(dataset)
    assert len(data) == 24 and data.failed == 0
    assert np.all(np.isfinite(data.state)) and np.all(data.cd > 0)


def test_a_truncated_dataset_is_refused_on_read(dataset):
    with pytest.raises(DatasetError, match=r"damaged: truncated to \d+ of its \d+ bytes"):
        read_dataset(truncated_copy(dataset))


def test_a_flipped_bit_is_caught_by_the_sample_checksum(dataset):
    with pytest.raises(DatasetError, match=r"1 of 24 samples fail their checksum \(indices 3\)"):
        read_dataset(flipped_copy(dataset))


@pytest.mark.parametrize("damage", [truncated_copy, flipped_copy])
def test_a_damaged_dataset_is_never_rewritten(dataset, damage):
    damaged = damage(dataset)
    before = damaged.read_bytes()
    with pytest.raises(DatasetError, match="damaged"):
        SampleFile.open_existing(damaged)
    assert damaged.read_bytes() == before


def test_a_second_writer_is_refused_while_the_first_lives_and_welcome_after_it_died(dataset):
    proc = hold_dataset_writer(dataset)
    try:
        with pytest.raises(DatasetError, match=rf"being written by pid {proc.pid} on host"):
            SampleFile.open_existing(dataset)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    writer = SampleFile.open_existing(dataset)  # the dead writer's lock is stale: taken over
    writer.close()
    assert len(read_dataset(dataset)) == 24


def test_appending_under_other_settings_is_refused_naming_them(dataset):
    identity = read_identity(dataset) | {"solver.rtol": 1e-6, "shape.min_quality": 0.2}
    with pytest.raises(DatasetError, match=r"shape.min_quality 0.1 ≠ 0.2; solver.rtol 1e-10 ≠ 1e-06"):
        SampleFile.open_existing(dataset, identity)


def test_a_dataset_without_a_settings_record_can_be_read_but_not_extended(dataset):
    with h5py.File(dataset, "a") as f:  # as an older shapeopt wrote it: no settings record, no checksum
        del f.attrs["identity"], f.attrs["header_checksum"]
    assert len(read_dataset(dataset)) == 24
    with pytest.raises(DatasetError, match="older format"):
        SampleFile.open_existing(dataset)


def test_a_foreign_file_is_refused(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    for path, message in ((foreign, "not a shapeopt dataset"), (text, "not a readable HDF5 dataset")):
        with pytest.raises(DatasetError, match=message):
            SampleFile.open_existing(path)
        with pytest.raises(DatasetError):
            read_dataset(path)


def run_cli(*args: str) -> SimpleNamespace:
    """`shapeopt ARGS` in this process (a refusal before any work needs no process of its own): exit
    code, stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize("damage", [truncated_copy, flipped_copy])
def test_the_commands_refuse_a_damaged_dataset_in_one_line_and_leave_it(dataset, damage, tmp_path):
    damaged = damage(dataset)
    before = damaged.read_bytes()
    case = str(CASES / "cylinder-re1-40.toml")
    for args in (
        ("train", case, "--level", "coarse", "--data", str(damaged), "--out", str(tmp_path / "s.pt")),
        ("dataset", case, "--level", "coarse", "--samples", "30", "--out", str(damaged)),
    ):
        proc = run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "damaged" in proc.stderr, proc.stderr
    assert damaged.read_bytes() == before
    assert not (tmp_path / "s.pt").exists()


@pytest.mark.slow
def test_dataset_output_paths_are_checked_before_any_work(tmp_path):
    case = str(CASES / "cylinder-re1-40.toml")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    cases = [
        (tmp_path, "is a folder; give a file name"),
        (foreign, "not a shapeopt dataset"),
        (foreign / "x.h5", "not a writable folder"),  # a file where a folder should be
    ]
    for out, message in cases:
        start = time.perf_counter()
        proc = run_cli("dataset", case, "--level", "coarse", "--samples", "4", "--out", str(out), "--json")
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stdout == ""
        assert time.perf_counter() - start < 30  # refused before meshing and solving (a hang would fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.h5"]
