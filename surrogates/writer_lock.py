"""One writer per file: an advisory lock beside it that records its owner (host, pid, start time).

The lock is `flock` on `<file>.lock`. The kernel releases it when its owner exits, however it ends
(`kill -9` included), so a lock left by a dead writer is stale by construction and the next writer takes
it over; a live owner is named in the refusal. The lock file itself stays (removing it would let two
writers lock two different files of the same name). The lock belongs to the file a path resolves to: a
symlink and its target share one lock. A hard link is another name of the same file, with a lock file of
its own, so the writer also locks the file itself, by its identity (device and inode): an open file
description lock on one byte far past any end of file (`IDENTITY_BYTE`), which HDF5's own whole-file
`flock` does not see, held while the lock is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import struct
import time
from pathlib import Path

IDENTITY_BYTE = 1 << 62  # the byte of a file its writer locks: past any end of file


class FileLockedError(ValueError):
    """Another live process writes the file."""


class LockFileError(ValueError):
    """The lock file cannot be used: it is a directory, or cannot be opened for writing."""


def lock_path(path: Path) -> Path:
    """The lock file of `path`: beside the file it resolves to (symlinks followed)."""
    target = Path(path).resolve()
    return target.with_name(target.name + ".lock")


def check_lockable(path: Path) -> None:
    """Refuse, before any work, a lock file that `WriterLock(path)` could not open (`LockFileError`)."""
    lock = lock_path(path)
    if lock.exists() and not lock.is_file():
        raise LockFileError(f"cannot lock {path}: {lock} is not a lock file; remove it")
    if lock.exists() and not os.access(lock, os.R_OK | os.W_OK):
        raise LockFileError(f"cannot lock {path}: {lock} is not writable")
    if lock.exists() and not _holds_lock_record(lock):
        raise LockFileError(
            f"cannot lock {path}: {lock} holds other data, not a lock; move that file away (the lock of "
            f"{path} is written there)"
        )


class WriterLock:
    """Exclusive lock on `path` (the file it resolves to) for writing; `release()` (or the owner's exit)
    frees it."""

    def __init__(self, path: Path):
        self.path = lock_path(path)
        self._fd: int | None = None
        self._identity: int | None = None  # the file itself, locked (`lock_file_itself`)
        check_lockable(path)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise LockFileError(f"cannot lock {path}: {self.path}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise FileLockedError(f"{path} is being written by {owner}; wait for it to finish") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the lock file was replaced between open and lock: lock the new one
        owner = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        self._fd = fd
        try:
            self.lock_file_itself(path)
        except BaseException:
            self.release()
            raise

    def lock_file_itself(self, path: Path) -> None:
        """Lock the file at `path` by its identity, so that its other names (hard links) are refused too;
        `FileLockedError` if a writer holds it under another name. Call again when the file was created
        or replaced under the lock; nothing to lock while there is no file."""
        try:
            fd = os.open(Path(path).resolve(), os.O_RDWR)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LockFileError(f"cannot lock {path}: {exc.strerror or exc}") from None
        if self._identity is not None and _identity(self._identity) == _identity(fd):
            os.close(fd)  # locked already
            return
        request = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, IDENTITY_BYTE, 1, 0)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, request)
        except OSError:
            os.close(fd)
            raise FileLockedError(
                f"{path} is being written by another process under another name (a hard link to it); wait "
                "for it to finish"
            ) from None
        if self._identity is not None:
            os.close(self._identity)
        self._identity = fd

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._identity is not None:
            os.close(self._identity)  # frees the file's own lock
            self._identity = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_owner(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        owner = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {owner['pid']} on host {owner['host']} (since {owner['since']})"
    return "another process"


def _identity(fd: int) -> tuple[int, int]:
    """The identity of the open file `fd`: its device and inode."""
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


def _holds_lock_record(lock: Path) -> bool:
    """True when the file `lock` is empty or holds an owner record as `WriterLock` writes it."""
    try:
        with lock.open("rb") as stream:
            text = stream.read(4097)
        return not text or set(json.loads(text)) == {"host", "pid", "since"}
    except (OSError, ValueError, TypeError):
        return False


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
