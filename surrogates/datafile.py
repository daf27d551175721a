"""The dataset format: append-only HDF5 sample files, written and read here (no FEniCS needed).

Attributes: `format`, `case` (the resolved case, JSON), `spec` (the `ParameterSpec`, JSON), `identity`
(JSON: every setting that changes a sample's value), `mesh_sha256`, `re_range`, `seed`, `level`; the
dataset `state_weights` (N,); per sample the columns of `FLOAT_COLUMNS`, `INT_COLUMNS`, `s`, `dcd`,
`dcl` (m,), `state` (N,), `reason`, `checksum` (CRC-32 of the row) and `committed`. The attribute
`header_checksum` is the CRC-32 of every other attribute and of `state_weights` (`header_checksum()`),
checked with the rows on every read and before every append. A file without it (made by an older
shapeopt) is read, never extended.

Rows are appended one sample at a time in SWMR mode: every data column is written and flushed first, the
`committed` column last, so a row counts only once it is complete. One writer at a time (`WriterLock`). A
file left by a killed writer stays readable (SWMR); to append again it is rewritten from its committed
rows (HDF5 keeps a writer's consistency flag set after a crash, which forbids reopening for writing),
after they have been checked. A damaged file (truncated, a flipped bit) is refused on read and on
write, naming the damage, and never rewritten. Files are opened for reading without SWMR unless a writer
has (or had, when killed) them open: h5py's SWMR open retries damaged metadata for ever, a plain one
refuses it at once. The superblock is checked by hand before any HDF5 call, so a file cut short is named
as such. A path that is a symlink is written through: lock, append and rewrite act on the file it
resolves to, never on the link.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from surrogates.spec import ParameterSpec
from surrogates.writer_lock import LockFileError, WriterLock, check_lockable

FORMAT = "shapeopt-dataset/2"
FLOAT_COLUMNS = ("re", "cd", "cl", "seconds", "quality")
INT_COLUMNS = ("index", "status", "newton_iterations")
VECTOR_COLUMNS = ("s", "dcd", "dcl")
REASON_BYTES = 400
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HEADER_CHECKSUM = "header_checksum"
SWMR_SUPERBLOCK = 3  # the superblock version SWMR appending needs (libver="latest")
# HDF5 metadata an append may add beyond its rows' chunks: the 2 KiB metadata block and the chunk index
# (extensible array pages of 1024 entries) grow a few KiB at a time; measured growth stays under 3 KiB.
METADATA_MARGIN = 64 * 1024


class DatasetError(ValueError):
    """A dataset cannot be read or written: damaged, not a dataset, busy, or made for another case."""


class SampleFile:
    """Writer of a dataset of `m` shape parameters and states of `n_state` values.

    `identity` (flat JSON-able dict) names every setting a sample's value depends on; appending to an
    existing file requires the same identity (keys in `ignore` excepted), else `DatasetError` lists the
    differences.
    """

    def __init__(
        self,
        path: Path,
        m: int,
        n_state: int,
        attrs: dict[str, Any],
        weights: np.ndarray,
        identity: dict[str, Any],
        ignore: tuple[str, ...] = (),
    ):
        check_writable(Path(path))
        self.path = Path(path).resolve()  # a symlink is written through, never replaced
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.lock = WriterLock(self.path)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        try:
            if self.path.exists():
                self.file = self._reopen(identity, ignore)
            else:
                self._create(m, n_state, attrs | {"identity": identity, "format": FORMAT}, weights)
                self.file = self._open_for_append()
            self.lock.lock_file_itself(self.path)  # the file made or replaced under the lock
        except BaseException:
            if getattr(self, "file", None) is not None:
                self.file.close()
            self.lock.release()
            raise

    @classmethod
    def open_existing(
        cls, path: Path, identity: dict[str, Any] | None = None, ignore: tuple[str, ...] = ()
    ) -> SampleFile:
        """Append to an existing dataset (e.g. FEM-verified optimizer samples); with `identity`, only if
        its samples were made under the same settings."""
        stored = read_identity(path)
        m, n_state = _widths(path)
        return cls(path, m, n_state, {}, np.empty(0), stored if identity is None else identity, ignore)

    def _create(self, m: int, n_state: int, attrs: dict[str, Any], weights: np.ndarray) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(self.path, "w", libver="latest") as f:
            for name, value in attrs.items():
                f.attrs[name] = _attribute(value)
            f.create_dataset("state_weights", data=weights)
            for name in FLOAT_COLUMNS:
                f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(256,))
            for name in (*INT_COLUMNS, "checksum"):
                f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="i8", chunks=(256,))
            for name in VECTOR_COLUMNS:
                f.create_dataset(name, shape=(0, m), maxshape=(None, m), dtype="f8", chunks=(64, m))
            f.create_dataset(
                "state", shape=(0, n_state), maxshape=(None, n_state), dtype="f8", chunks=(1, n_state)
            )
            # Fixed-length: variable-length strings are not safe to read while a SWMR writer appends.
            f.create_dataset("reason", shape=(0,), maxshape=(None,), dtype=f"S{REASON_BYTES}", chunks=(256,))
            f.create_dataset("committed", shape=(0,), maxshape=(None,), dtype="i1", chunks=(256,))
            f.attrs[HEADER_CHECKSUM] = np.int64(header_checksum(f))

    def _open_for_append(self) -> h5py.File:
        f = h5py.File(self.path, "a", libver="latest")
        try:
            f.swmr_mode = True
        except BaseException:
            f.close()
            raise
        return f

    def _reopen(self, identity: dict[str, Any], ignore: tuple[str, ...]) -> h5py.File:
        """Open an existing dataset for appending, after every check has passed read-only: a refused file
        (damaged, other settings, older layout) is never opened for writing, so never changed."""
        verify(self.path)
        identity_mismatch(self.path, read_identity(self.path), identity, ignore)
        check_extendable(self.path)
        try:
            return self._open_for_append()
        except BlockingIOError:
            raise DatasetError(f"{self.path} is open in another process; try again when it is done") from None
        except OSError as exc:
            if "already open for write" not in str(exc):
                raise DatasetError(f"cannot append to {self.path}: {_first_line(exc)}") from None
        # The consistency flag of a writer that died (we hold the lock, so no writer is alive).
        self._rewrite_committed()
        return self._open_for_append()

    def _rewrite_committed(self) -> None:
        """Copy the committed rows of a file whose writer was killed into a fresh file, then replace it."""
        tmp = self.path.with_name(f".{self.path.name}.recover")
        with h5py.File(self.path, "r", swmr=True) as old, h5py.File(tmp, "w", libver="latest") as new:
            n = old["committed"].shape[0]
            for name, value in old.attrs.items():
                new.attrs[name] = value
            for name, column in old.items():
                rows = column[:] if name == "state_weights" else column[:n]
                new.create_dataset(
                    name, data=rows, maxshape=column.maxshape, chunks=column.chunks, dtype=column.dtype
                )
        os.replace(tmp, self.path)

    def done(self) -> set[int]:
        """Sample indices already stored (successful or failed)."""
        n = self.file["committed"].shape[0]
        return set(self.file["index"][:n].tolist())

    def append(self, row: dict[str, Any]) -> None:
        """Write one sample (keys: the columns; `state`, `s`, `dcd`, `dcl` may be None for a failure)."""
        f = self.file
        n = f["committed"].shape[0]
        m, n_state = f["s"].shape[1], f["state"].shape[1]

        def vector(name: str, size: int) -> np.ndarray:
            value = row.get(name)
            return np.full(size, np.nan) if value is None else np.asarray(value, dtype="f8")

        values = {
            **{name: np.float64(row.get(name, np.nan)) for name in FLOAT_COLUMNS},
            **{name: np.int64(row.get(name, -1)) for name in INT_COLUMNS},
            **{name: vector(name, m) for name in VECTOR_COLUMNS},
            "state": vector("state", n_state),
            "reason": np.bytes_(row.get("reason", "").encode()[:REASON_BYTES]),
        }
        values["checksum"] = np.int64(row_checksum(values))
        self._check_space(n)
        try:
            for name, value in values.items():
                column = f[name]
                column.resize(n + 1, axis=0)
                column[n] = value
                column.flush()
            f["committed"].resize(n + 1, axis=0)
            f["committed"][n] = 1
            f["committed"].flush()
        except (OSError, RuntimeError) as exc:  # HDF5's write failed: a full disk, a file size limit
            self.failed = True
            raise DatasetError(f"cannot write a sample to {self.path}: {_write_failure(exc)}") from None

    failed = False  # a write failed: closing the file cannot flush it either

    def _check_space(self, n: int) -> None:
        """Refuse, before HDF5 writes anything, an append of row `n` that the disk or the file size limit
        (RLIMIT_FSIZE) has no room for: a write HDF5 cannot finish leaves the file cut short, unreadable."""
        needed = space_needed(self.file, n)
        free = space_free(self.path)
        if needed > free:
            raise DatasetError(
                f"cannot write a sample to {self.path}: not enough space for another sample: "
                f"{needed} bytes needed, {free} free; the {n} samples stored are kept: free space and run "
                "the same command again to resume"
            )

    def close(self) -> None:
        """Close the file and free the writer lock (after a failed write, without a second error)."""
        try:
            self.file.close()
        except (OSError, RuntimeError):
            if not self.failed:
                raise
        finally:
            self.lock.release()


def space_needed(f: h5py.File, n: int) -> int:
    """Bytes the file may grow by when row `n` is appended: a new chunk of every column whose chunks
    start at row `n` (chunked columns grow by whole chunks), plus `METADATA_MARGIN`."""
    needed = METADATA_MARGIN
    for column in f.values():
        if column.chunks is not None and n % column.chunks[0] == 0:
            needed += math.prod(column.chunks) * column.dtype.itemsize
    return needed


def space_free(path: Path) -> int:
    """Bytes `path` may still grow by: the free space of its file system, and at most what the file size
    limit (RLIMIT_FSIZE, when set) leaves."""
    stat = os.statvfs(path)
    free = stat.f_bavail * stat.f_frsize
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        free = min(free, max(limit - os.path.getsize(path), 0))
    return free


def _write_failure(exc: BaseException) -> str:
    """The system's reason in an HDF5 write error ("No space left on device"), else its first line."""
    found = re.search(r"error message = '([^']+)'", str(exc))
    return found.group(1) if found else _first_line(exc)


def row_checksum(values: dict[str, Any]) -> int:
    """CRC-32 of one row's values in a fixed column order (what `append` stores in `checksum`)."""
    crc = 0
    for name in (*INT_COLUMNS, *FLOAT_COLUMNS, *VECTOR_COLUMNS, "state"):
        dtype = "i8" if name in INT_COLUMNS else "f8"
        crc = zlib.crc32(np.ascontiguousarray(values[name], dtype=dtype).tobytes(), crc)
    reason = values["reason"]
    return zlib.crc32(bytes(reason).ljust(REASON_BYTES, b"\0"), crc)


def header_checksum(f: h5py.File) -> int:
    """CRC-32 of the dataset-level data the commands read: every attribute but this checksum (by name)
    and `state_weights` (what `SampleFile` stores in the `header_checksum` attribute)."""
    crc = 0
    for name in sorted(set(f.attrs) - {HEADER_CHECKSUM}):
        value = f.attrs[name]
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, bytes):
            array = np.asarray(value)
            value = f"{array.dtype.str}{array.shape}".encode() + np.ascontiguousarray(array).tobytes()
        crc = zlib.crc32(name.encode() + b"\0" + value, crc)
    weights = f["state_weights"][:] if "state_weights" in f else np.empty(0)
    return zlib.crc32(np.ascontiguousarray(weights, dtype="f8").tobytes(), crc)


def _check_header(path: Path, f: h5py.File) -> None:
    """Refuse a file whose attributes or state weights fail the header checksum (none in older files)."""
    if HEADER_CHECKSUM in f.attrs and header_checksum(f) != int(f.attrs[HEADER_CHECKSUM]):
        raise DatasetError(f"{path} is damaged: its settings or state weights fail their checksum")


def check_writable(path: Path) -> None:
    """Refuse, before any work, an output path that cannot become a dataset: a directory, a file that is
    not one of ours (or one that can be read, not extended), a lock file that cannot be used, or a folder
    we cannot write into."""
    if path.is_dir():
        raise DatasetError(f"{path} is a directory; give a file name such as {path / 'samples.h5'}")
    if path.exists() and not path.is_file():  # a FIFO would block the first read, a device never end
        raise DatasetError(f"{path} is not a regular file (a FIFO, socket or device); give a file name")
    try:
        check_lockable(path)
    except LockFileError as exc:
        raise DatasetError(str(exc)) from None
    if path.exists():
        if not os.access(path, os.W_OK):
            raise DatasetError(f"{path} is not writable")
        read_identity(path)  # raises unless it is a shapeopt dataset in the current format
        verify(path)
        check_extendable(path)
        return
    parent = _existing_parent(path)
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise DatasetError(f"cannot create {path}: {parent} is not a writable folder")


def _existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def check_extendable(path: Path) -> None:
    """Refuse to append to a dataset that can be read, not extended: one in an HDF5 layout without SWMR
    (superblock < 3) or one made by an older shapeopt without the header checksum."""
    version = check_intact(path)
    if version < SWMR_SUPERBLOCK:
        raise DatasetError(
            f"{path} uses an older HDF5 layout (superblock version {version}) that cannot be appended to "
            "safely: it can be read and trained on, not extended; choose another file"
        )
    with _open_read(path) as f:
        if HEADER_CHECKSUM not in f.attrs:
            raise DatasetError(
                f"{path} was made by an older shapeopt, without a checksum over its settings and state "
                "weights: it can be read and trained on, not extended; choose another file"
            )


def _open_read(path: Path) -> h5py.File:
    """`path` opened read-only after `check_intact`: without SWMR unless a writer has it open (or had,
    when it was killed), since a SWMR open retries damaged metadata for ever and a plain one refuses it."""
    check_intact(path)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise
    return h5py.File(path, "r", swmr=True)


def read_identity(path: Path) -> dict[str, Any]:
    """The settings record of a dataset; `DatasetError` if the file is not a shapeopt dataset."""
    try:
        with _open_read(path) as f:
            if "committed" not in f or "spec" not in f.attrs:
                raise DatasetError(f"{path} is an HDF5 file but not a shapeopt dataset; choose another file")
            if "identity" not in f.attrs:
                raise DatasetError(
                    f"{path} does not record the settings its samples were made with (an older format): "
                    "it can be read and trained on, not extended; choose another file"
                )
            _check_header(path, f)
            return json.loads(f.attrs["identity"])
    except (OSError, KeyError, RuntimeError) as exc:  # an HDF5 file (`check_intact`) that HDF5 cannot read
        raise DatasetError(f"{path} is damaged: {_first_line(exc)}") from None
    except ValueError as exc:  # DatasetError is one
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path} is damaged: its settings record is not JSON") from None


def _widths(path: Path) -> tuple[int, int]:
    try:
        with _open_read(path) as f:
            return f["s"].shape[1], f["state"].shape[1]
    except (OSError, KeyError, RuntimeError, IndexError) as exc:
        raise DatasetError(f"{path} is damaged: {_first_line(exc)}") from None


def identity_mismatch(
    path: Path, stored: dict[str, Any], identity: dict[str, Any], ignore: tuple[str, ...] = ()
) -> None:
    """Raise `DatasetError` listing the settings (keys not in `ignore`) where `identity` ≠ `stored`."""
    identity = _normalised(identity)
    keys = sorted((set(stored) | set(identity)) - set(ignore))
    differences = [
        f"{k} {stored.get(k)!r} ≠ {identity.get(k)!r}" for k in keys if stored.get(k) != identity.get(k)
    ]
    if differences:
        raise DatasetError(
            f"{path} holds samples made with other settings ({'; '.join(differences)}); "
            "choose another file or the case it was made with"
        )


def check_appendable(path: Path, identity: dict[str, Any], ignore: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, a dataset that `SampleFile.open_existing(path, identity, ignore)` would."""
    check_writable(path)
    if not path.exists():
        raise DatasetError(f"dataset not found: {path}")
    verify(path)
    identity_mismatch(path, read_identity(path), identity, ignore)


def check_intact(path: Path) -> int:
    """Refuse, from its superblock alone, a file that is not HDF5 or is shorter than HDF5 says it is (a
    truncated copy or a full disk on close); returns the superblock version."""
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        head = stream.read(256)
    if not head or not HDF5_SIGNATURE.startswith(head[:8]):
        raise DatasetError(f"{path} is not a readable HDF5 dataset (not an HDF5 file)")
    if size < 14:
        raise DatasetError(f"{path} is damaged: truncated to {size} bytes, inside its HDF5 superblock")
    version = head[8]
    if version not in (0, 1, 2, 3):
        raise DatasetError(f"{path} is damaged: HDF5 superblock version {version} is not one there is")
    # Byte offsets of the size of addresses and of the end-of-file address, by superblock version.
    width = head[9] if version >= 2 else head[13]
    if width not in (2, 4, 8, 16, 32):
        raise DatasetError(f"{path} is damaged: its HDF5 superblock gives {width}-byte addresses")
    eof_at = {0: 24, 1: 28, 2: 12, 3: 12}[version] + 2 * width
    needed = 12 + 4 * width + 4 if version >= 2 else eof_at + width  # v2/v3: the whole superblock
    if size < needed:
        raise DatasetError(f"{path} is damaged: truncated to {size} bytes, inside its HDF5 superblock")
    end = int.from_bytes(head[eof_at : eof_at + width], "little")
    if end > size:
        raise DatasetError(f"{path} is damaged: truncated to {size} of its {end} bytes")
    return version


def verify(path: Path) -> None:
    """Refuse a damaged dataset: truncated, damaged metadata, attributes or state weights that fail the
    header checksum, or a committed row whose checksum does not match."""
    try:
        with _open_read(path) as f:
            _check_header(path, f)
            if "checksum" not in f:
                return  # an older file without checksums
            n = f["committed"].shape[0]
            columns = {name: f[name][:n] for name in (*INT_COLUMNS, *FLOAT_COLUMNS, *VECTOR_COLUMNS, "state")}
            columns["reason"], stored = f["reason"][:n], f["checksum"][:n]
    except (OSError, KeyError, RuntimeError) as exc:
        raise DatasetError(f"{path} is damaged: {_first_line(exc)}") from None
    bad = [i for i in range(n) if row_checksum({k: v[i] for k, v in columns.items()}) != stored[i]]
    if bad:
        shown = ", ".join(str(int(columns["index"][i])) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise DatasetError(
            f"{path} is damaged: {len(bad)} of {n} samples fail their checksum (indices {shown})"
        )


@dataclass
class Dataset:
    """Samples of one case and mesh. Shapes: s (n, m), re/cd/cl (n,), dcd/dcl (n, m), state (n, N)."""

    s: np.ndarray
    re: np.ndarray
    cd: np.ndarray
    cl: np.ndarray
    dcd: np.ndarray
    dcl: np.ndarray
    state: np.ndarray
    weights: np.ndarray  # (N,) inner-product weights of the state (lumped mass)
    spec: ParameterSpec
    mesh_sha256: str
    re_range: tuple[float, float]
    case: dict
    failed: int
    seed: int = 0  # of the design sequence (the dataset's Sobol points)
    next_index: int = 0  # the first index of the design sequence that no row holds
    identity: dict[str, Any] | None = None  # the settings the samples were made with (None: older file)

    def __len__(self) -> int:
        return len(self.re)


def read_dataset(
    path: str | Path, expected: ParameterSpec | None = None, level: str | None = None
) -> Dataset:
    """All successful samples of a dataset, sorted by sample index, after checking it is intact.

    With `expected` (and `level`), a dataset made for an incompatible parametrisation (or another mesh
    level) is refused with `DatasetError`.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise DatasetError(f"{path} is not a dataset file (a folder, FIFO, socket or device)")
    if not path.is_file():
        raise DatasetError(f"dataset not found: {path}")
    verify(path)
    try:
        data = _read(path)
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"cannot read dataset {path}: {_first_line(exc)}") from None
    problems = [] if expected is None else data.spec.differences(expected)
    if level is not None and data.case.get("level") != level:
        problems.append(f"mesh level {data.case.get('level')!r} ≠ {level!r}")
    if problems:
        raise DatasetError(f"{path} was made for another case: " + "; ".join(problems))
    return data


def _read(path: Path) -> Dataset:
    with _open_read(path) as f:
        if "committed" not in f or "spec" not in f.attrs:
            raise ValueError("an HDF5 file but not a shapeopt dataset")
        n = f["committed"].shape[0]  # rows written completely; a killed writer may leave a partial one
        ok = f["status"][:n] == 0
        order = np.argsort(f["index"][:n][ok], kind="stable")

        def rows(name: str) -> np.ndarray:
            return f[name][:n][ok][order]

        return Dataset(
            s=rows("s"),
            re=rows("re"),
            cd=rows("cd"),
            cl=rows("cl"),
            dcd=rows("dcd"),
            dcl=rows("dcl"),
            state=rows("state"),
            weights=f["state_weights"][:],
            spec=ParameterSpec.from_dict(json.loads(f.attrs["spec"])),
            mesh_sha256=_text(f.attrs["mesh_sha256"]),
            re_range=tuple(float(v) for v in f.attrs["re_range"]),
            case=json.loads(f.attrs["case"]),
            failed=int(np.sum(~ok)),
            seed=int(f.attrs.get("seed", 0)),
            next_index=int(f["index"][:n].max()) + 1 if n else 0,
            identity=json.loads(f.attrs["identity"]) if "identity" in f.attrs else None,
        )


def _attribute(value: Any) -> Any:
    """An HDF5 attribute value: specs and dicts as JSON text, text as a fixed-length byte string, the rest
    as they are. Fixed length keeps text in the object header, which HDF5 checksums; a variable-length
    string lives in the global heap, which it does not (a flipped bit there can hang the read)."""
    if isinstance(value, ParameterSpec):
        value = value.to_dict()
    if isinstance(value, dict):
        value = json.dumps(value)
    return np.bytes_(value.encode()) if isinstance(value, str) and value else value


def _text(value: Any) -> str:
    """A text attribute as `str`: fixed-length (bytes) or variable-length (older files)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _normalised(identity: dict[str, Any]) -> dict[str, Any]:
    """As the identity reads back from the file (tuples become lists)."""
    return json.loads(json.dumps(identity))


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
