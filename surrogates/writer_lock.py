"""One writer per file: an advisory lock beside it that records its owner (host, pid, start time).

The lock is `flock` on `<file>.lock`. The kernel releases it when its owner exits, however it ends
(`kill -9` included), so a lock left by a dead writer is stale by construction and the next writer takes
it over; a live owner is named in the refusal. The lock file itself stays (removing it would let two
writers lock two different files of the same name). The lock belongs to the file a path resolves to: a
symlink and its target share one lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path


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


class WriterLock:
    """Exclusive lock on `path` (the file it resolves to) for writing; `release()` (or the owner's exit)
    frees it."""

    def __init__(self, path: Path):
        self.path = lock_path(path)
        self._fd: int | None = None
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

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_owner(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        owner = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {owner['pid']} on host {owner['host']} (since {owner['since']})"
    return "another process"


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
