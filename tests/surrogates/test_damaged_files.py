"""Fault injection on the files the learning side reads: datasets and surrogates that are damaged (cut
short, a flipped bit, NaN weights), odd (a symlink, an older layout, a lock file that is a folder) or made
for another case. Each is refused in one clear `DatasetError`/`IncompatibleSurrogateError`/`CaseError`,
quickly (never a hang), and left as it was. No FEM: synthetic datasets (`write_synthetic_dataset`)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from shapeopt.cases import load_case
from shapeopt.data.training import read_dataset_for, save_surrogate
from shapeopt.designs import parameter_spec, sample_identity
from shapeopt.errors import CaseError
from surrogates import IncompatibleSurrogateError, load
from surrogates.artifact import Surrogate
from surrogates.datafile import (
    DatasetError,
    SampleFile,
    check_writable,
    header_checksum,
    read_dataset,
    read_identity,
)
from surrogates.network import DragNet
from surrogates.pod import POD
from tests.helpers import RANGE_CASE, hold_dataset_writer, write_synthetic_dataset


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "samples.h5"
    write_synthetic_dataset(path)
    return path


def one_row(index: int) -> dict:
    """A failed-sample row (no vectors needed) for appending."""
    return {"index": index, "status": 1, "reason": "test row"}


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


# -- 1. a symlink is locked and written as the file it points to -------------------------------------
@pytest.mark.parametrize("holder_uses_link", [False, True])
def test_a_symlink_and_its_target_share_one_writer_lock(dataset, holder_uses_link):
    link = dataset.with_name("link.h5")
    link.symlink_to(dataset)
    proc = hold_dataset_writer(link if holder_uses_link else dataset)
    try:
        before = dataset.read_bytes()
        with pytest.raises(DatasetError, match=rf"being written by pid {proc.pid}"):
            SampleFile.open_existing(dataset if holder_uses_link else link)
        assert link.is_symlink() and link.resolve() == dataset
        assert dataset.read_bytes() == before
    finally:
        stop(proc)


@pytest.mark.parametrize("holder_uses_link", [False, True])
def test_a_hard_link_and_its_file_share_one_writer_lock(dataset, holder_uses_link):
    link = dataset.with_name("hard.h5")
    os.link(dataset, link)
    proc = hold_dataset_writer(link if holder_uses_link else dataset)
    try:
        before = dataset.read_bytes()
        with pytest.raises(DatasetError, match="being written by another process under another name"):
            SampleFile.open_existing(dataset if holder_uses_link else link)
        assert dataset.read_bytes() == before and os.path.samefile(dataset, link)
    finally:
        stop(proc)
    SampleFile.open_existing(link).close()  # the writer gone, its lock goes with it


def test_a_new_dataset_is_locked_under_every_name_it_gets_while_written(tmp_path):
    write_synthetic_dataset(tmp_path / "samples.h5")
    first = SampleFile.open_existing(tmp_path / "samples.h5")
    os.link(tmp_path / "samples.h5", tmp_path / "hard.h5")  # a name made while the file is written
    try:
        with pytest.raises(DatasetError, match="under another name"):
            SampleFile.open_existing(tmp_path / "hard.h5")
    finally:
        first.close()


def test_a_lock_file_name_that_holds_other_data_is_refused_and_kept(dataset):
    lock = dataset.with_name(dataset.name + ".lock")
    lock.write_bytes(b"a surrogate saved under the lock's name")
    with pytest.raises(DatasetError, match=r"samples.h5.lock holds other data, not a lock"):
        SampleFile.open_existing(dataset)
    assert lock.read_bytes() == b"a surrogate saved under the lock's name"
    lock.write_text('{"host": "h", "pid": 1, "since": "then"}')  # a dead writer's lock is taken over
    SampleFile.open_existing(dataset).close()


def test_resuming_through_a_symlink_writes_the_target_and_keeps_the_link(dataset):
    link = dataset.with_name("link.h5")
    link.symlink_to(dataset)
    hold_dataset_writer(dataset, kill_after_open=True)  # the resume rewrites the file from its committed rows
    writer = SampleFile.open_existing(link)
    try:
        writer.append(one_row(99))
    finally:
        writer.close()
    assert link.is_symlink() and link.resolve() == dataset
    assert sorted(p.name for p in dataset.parent.iterdir()) == ["link.h5", "samples.h5", "samples.h5.lock"]
    data = read_dataset(dataset)
    assert len(data) == 24 and data.failed == 1


# -- 2. every array and attribute a command reads is covered by a checksum ----------------------------
def flipped_weights_copy(path):
    """A copy with one bit of `state_weights` flipped."""
    with h5py.File(path, "r") as f:
        offset = f["state_weights"].id.get_offset()
    data = bytearray(path.read_bytes())
    data[offset + 5] ^= 0x08
    copy = path.with_name("weights.h5")
    copy.write_bytes(bytes(data))
    return copy


def test_a_flipped_bit_in_the_state_weights_is_refused_by_every_reader_and_writer(dataset):
    damaged = flipped_weights_copy(dataset)
    before = damaged.read_bytes()
    for attempt in (read_dataset, read_identity, check_writable, SampleFile.open_existing):
        with pytest.raises(DatasetError, match="damaged: its settings or state weights fail their checksum"):
            attempt(damaged)
    assert damaged.read_bytes() == before


def test_an_attribute_changed_behind_the_checksum_is_refused(dataset):
    with h5py.File(dataset, "a") as f:
        f.attrs["re_range"] = np.array([1.0, 400.0])
    with pytest.raises(DatasetError, match="settings or state weights fail their checksum"):
        read_dataset(dataset)


def test_a_file_without_the_header_checksum_is_read_but_not_extended(dataset):
    with h5py.File(dataset, "a") as f:  # as an older shapeopt wrote it
        del f.attrs["header_checksum"]
    before = dataset.read_bytes()
    assert len(read_dataset(dataset)) == 24
    for attempt in (check_writable, SampleFile.open_existing):
        with pytest.raises(DatasetError, match=r"made by an older shapeopt.*trained on, not extended"):
            attempt(dataset)
    assert dataset.read_bytes() == before


def test_the_header_checksum_covers_a_fresh_file_and_survives_the_recovery_rewrite(dataset):
    with h5py.File(dataset, "r") as f:
        assert header_checksum(f) == int(f.attrs["header_checksum"])
        assert isinstance(f.attrs["case"], bytes)  # fixed-length text: in the checksummed object header
    hold_dataset_writer(dataset, kill_after_open=True)
    SampleFile.open_existing(dataset).close()  # rewritten from the committed rows
    with h5py.File(dataset, "r") as f:
        assert header_checksum(f) == int(f.attrs["header_checksum"])


# -- 3. a refused resume changes nothing --------------------------------------------------------------
@pytest.mark.parametrize("killed_writer", [False, True])
def test_a_refused_resume_leaves_the_file_byte_for_byte(dataset, killed_writer):
    if killed_writer:
        hold_dataset_writer(dataset, kill_after_open=True)
    before = dataset.read_bytes()
    identity = read_identity(dataset) | {"seed": 1}
    with pytest.raises(DatasetError, match="seed 0 ≠ 1"):
        SampleFile.open_existing(dataset, identity)
    assert dataset.read_bytes() == before


# -- 4./5. cut short, metadata damaged, an older layout: refused at once, never a hang -----------------
PROBE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from surrogates.datafile import DatasetError, SampleFile, check_writable, read_dataset
    results = []
    for name in sys.argv[1:]:
        for attempt in (check_writable, read_dataset, SampleFile.open_existing):
            start = time.perf_counter()
            try:
                attempt(Path(name))
                outcome = "accepted"
            except DatasetError as exc:
                outcome = str(exc)
            results.append([name, attempt.__name__, outcome, time.perf_counter() - start])
    print(json.dumps(results))
    """
)


def probe(paths) -> list:
    """[path, function, message or 'accepted', seconds] per path and reader/writer, in a process of its
    own (a hang fails the test instead of stopping the suite)."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_file_cut_inside_its_superblock_is_refused_at_once(dataset, tmp_path):
    data = dataset.read_bytes()
    cuts = []
    for size in range(0, 60):
        cut = tmp_path / f"cut{size}.h5"
        cut.write_bytes(data[:size])
        cuts.append(cut)
    for name, _, outcome, seconds in probe(cuts):
        assert seconds < 1, (name, seconds)
        size = int(name.split("cut")[-1][:-3])
        if size == 0:
            assert "not an HDF5 file" in outcome
        elif size < 48:
            assert f"damaged: truncated to {size} bytes, inside its HDF5 superblock" in outcome, outcome
        else:
            assert f"damaged: truncated to {size} of its {len(data)} bytes" in outcome, outcome
    assert [c.read_bytes() for c in cuts] == [data[:size] for size in range(0, 60)]


def test_a_flipped_bit_in_the_metadata_is_refused_at_once_or_harmless(dataset, tmp_path):
    """HDF5 checksums its metadata; h5py's SWMR open retries a mismatch for ever, a plain one refuses it.
    A flip in unused bytes is accepted and must read the same data."""
    data = dataset.read_bytes()
    flips = []
    for offset in [*range(8, 48, 4), *range(48, 12000, 97)]:
        flipped = bytearray(data)
        flipped[offset] ^= 0x04
        flips.append(tmp_path / f"flip{offset}.h5")
        flips[-1].write_bytes(bytes(flipped))
    reference = read_dataset(dataset)
    for name, attempt, outcome, seconds in probe(flips):
        assert seconds < 1, (name, seconds)
        assert outcome == "accepted" or "damaged" in outcome or "not a" in outcome, outcome
        if outcome == "accepted" and attempt == "read_dataset":
            same = read_dataset(name)
            assert np.array_equal(same.state, reference.state) and same.case == reference.case, name


def test_a_dataset_in_an_older_hdf5_layout_is_read_but_not_extended(dataset, tmp_path):
    old = tmp_path / "old.h5"
    with h5py.File(dataset, "r") as src, h5py.File(old, "w") as dst:  # libver default: superblock 0
        for name, value in src.attrs.items():
            dst.attrs[name] = value
        for name in src:
            src.copy(src[name], dst, name)
    before = old.read_bytes()
    assert len(read_dataset(old)) == 24
    for attempt in (check_writable, SampleFile.open_existing):
        with pytest.raises(DatasetError, match=r"older HDF5 layout \(superblock version 0\).*not extended"):
            attempt(old)
    assert old.read_bytes() == before


def test_a_lock_file_that_is_a_folder_is_refused_in_one_error(dataset):
    (dataset.parent / "samples.h5.lock").unlink()
    (dataset.parent / "samples.h5.lock").mkdir()
    before = dataset.read_bytes()
    for attempt in (check_writable, SampleFile.open_existing):
        with pytest.raises(DatasetError, match=r"cannot lock .*samples.h5.lock is not a lock file; remove"):
            attempt(dataset)
    assert dataset.read_bytes() == before


# -- 6. surrogates: metadata checked, weights finite --------------------------------------------------
def write_surrogate(path, meta_changes=None, drop=(), poison=None):
    """A small surrogate file; `meta_changes`/`drop` edit its metadata, `poison` (NaN or inf) goes into
    one weight."""
    spec = parameter_spec(load_case(RANGE_CASE)).to_dict()
    m, n, k = len(spec["names"]), 30, 3
    net = DragNet(m, k, width=8, depth=1)
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(n, k)))[0] * np.sqrt(n)
    pod = POD(np.ones(n), basis, np.full(n, 1.0 / n), np.ones(k), 0.99)
    meta = {"spec": spec, "mesh_sha256": "abc", "re_range": [1.0, 40.0]}
    meta = {key: value for key, value in (meta | (meta_changes or {})).items() if key not in drop}
    Surrogate(net, pod, {"spec": spec}).save(path)
    payload = torch.load(path, weights_only=True)
    payload["meta"] = meta
    if poison is not None:
        payload["state_dict"]["mlp.0.weight"][0, 0] = poison
    torch.save(payload, path)
    return path


def test_a_sound_surrogate_loads(tmp_path):
    assert load(write_surrogate(tmp_path / "s.pt")).meta["mesh_sha256"] == "abc"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"drop": ("mesh_sha256",)}, "meta mesh_sha256 '(missing)' is not a mesh hash"),
        ({"meta_changes": {"re_range": "x"}}, "meta re_range 'x' is not [low, high]"),
        ({"meta_changes": {"re_range": [40.0, float("nan")]}}, "meta re_range [40.0, nan] is not"),
        ({"drop": ("spec",)}, "meta lacks spec"),
        ({"meta_changes": {"spec": {"kind": "fourier"}}}, "meta spec is not a parameter spec"),
        ({"meta_changes": {"dataset": 7}}, "meta dataset is int, not str"),
        ({"poison": float("nan")}, "weight mlp.0.weight is not finite"),
        ({"poison": float("inf")}, "weight mlp.0.weight is not finite"),
    ],
)
def test_a_surrogate_with_odd_metadata_or_non_finite_weights_is_refused(tmp_path, changes, message):
    path = write_surrogate(tmp_path / "s.pt", **changes)
    before = path.read_bytes()
    with pytest.raises(IncompatibleSurrogateError, match="damaged surrogate file") as caught:
        load(path)
    assert message in str(caught.value)
    assert path.read_bytes() == before


# -- 7. train refuses a dataset whose samples were made under other settings --------------------------
def made_elsewhere(path, keep_identity: bool = True):
    """The dataset as if made in a box with its inlet 30 (not 40) diameters upstream: its settings record
    (or, for an older file without one, its stored case) says so; the header checksum is renewed."""
    with h5py.File(path, "a") as f:
        case = json.loads(f.attrs["case"])
        case["domain"]["upstream"] = 30.0
        f.attrs["case"] = np.bytes_(json.dumps(case).encode())
        if keep_identity:
            identity = json.loads(f.attrs["identity"]) | {"domain.upstream": 30.0}
            f.attrs["identity"] = np.bytes_(json.dumps(identity).encode())
        else:
            del f.attrs["identity"]
        f.attrs["header_checksum"] = np.int64(header_checksum(f))
    return path


@pytest.mark.parametrize("keep_identity", [True, False])
def test_training_refuses_a_dataset_made_with_other_settings_naming_them(dataset, keep_identity):
    case = load_case(RANGE_CASE).with_overrides(level="coarse")
    assert len(read_dataset_for(case, dataset)) == 24
    made_elsewhere(dataset, keep_identity)
    with pytest.raises(CaseError, match=r"other settings \(domain.upstream 30.0 ≠ 40.0\); choose another"):
        read_dataset_for(case, dataset)


def test_training_ignores_how_the_designs_were_drawn(dataset):
    """The seed, the design version and the mesh hash (not known before meshing) may differ."""
    case = load_case(RANGE_CASE).with_overrides(level="coarse")
    stored = read_identity(dataset)
    assert {"seed", "mesh_sha256"} <= set(stored) and set(stored) - set(sample_identity(case)) <= {
        "seed",
        "mesh_sha256",
        "design",
    }
    assert len(read_dataset_for(case, dataset)) == 24


def test_a_write_past_a_file_size_limit_is_one_error_and_keeps_the_committed_samples(dataset):
    """A full disk, as a file size limit (RLIMIT_FSIZE, its signal ignored): the append that would not fit
    is refused before HDF5 writes anything, with one `DatasetError`; the process ends cleanly, the
    samples appended before stay readable and appending resumes once there is room."""
    code = textwrap.dedent(
        f"""
        import os, resource, signal
        import numpy as np
        from surrogates.datafile import DatasetError, SampleFile
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = os.path.getsize({str(dataset)!r}) + 80000
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        writer = SampleFile.open_existing({str(dataset)!r})
        try:
            for i in range(100, 1000):
                writer.append({{"index": i, "status": 1, "reason": "x", "state": np.ones(40)}})
        except DatasetError as exc:
            print(i - 100, exc)
        writer.close()
        """
    )
    before = read_dataset(dataset)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    appended, message = proc.stdout.split(" ", 1)
    assert int(appended) > 0
    assert re.fullmatch(
        rf"cannot write a sample to {re.escape(str(dataset))}: not enough space for another sample: "
        r"\d+ bytes needed, \d+ free; the \d+ samples stored are kept: free space and run the same "
        r"command again to resume\n",
        message,
    )
    after = read_dataset(dataset)  # every committed sample is readable
    assert (len(after), after.failed) == (len(before), before.failed + int(appended))
    writer = SampleFile.open_existing(dataset)  # room again: appending resumes
    try:
        assert set(range(100, 100 + int(appended))) <= writer.done()
        writer.append(one_row(99))
    finally:
        writer.close()
    assert read_dataset(dataset).failed == before.failed + int(appended) + 1


def test_saving_a_surrogate_leaves_a_user_file_named_like_a_temporary_file_alone(tmp_path):
    write_surrogate(tmp_path / "source.pt")
    user_file = tmp_path / "s.pt.tmp"
    user_file.write_bytes(b"a user's file")
    save_surrogate(load(tmp_path / "source.pt"), tmp_path / "s.pt")
    assert user_file.read_bytes() == b"a user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt", "s.pt.tmp", "source.pt"]


def test_a_full_disk_while_a_surrogate_is_saved_is_one_line_and_keeps_the_earlier_file(tmp_path, monkeypatch):
    write_surrogate(tmp_path / "source.pt")
    model = load(tmp_path / "source.pt")
    out = tmp_path / "s.pt"
    out.write_bytes(b"an earlier surrogate")
    write_bytes = Path.write_bytes

    def full_disk(path: Path, data: bytes) -> int:
        write_bytes(path, data[:100])  # a part is written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(CaseError, match=f"^cannot write {out}: No space left on device; the trained network"):
        save_surrogate(model, out)
    assert out.read_bytes() == b"an earlier surrogate"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt", "source.pt"], "no temporary file left"
