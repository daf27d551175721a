"""One writer per file: an advisory lock beside it that records its owner (host, pid, start time).

The lock is `flock` on `<file>.lock`. The kernel releases it when its owner exits, however it ends
(`kill -9` included), so a lock left by a dead writer is stale by construction and the next writer takes
it over; a live owner is named in the refusal. The lock file itself stays (removing it would let two
writers lock two different files of the same name).
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


class WriterLock:
    """Exclusive lock on `path` for writing; `release()` (or the owner's exit) frees it."""

    def __init__(self, path: Path):
        self.path = Path(path).with_name(Path(path).name + ".lock")
        self._fd: int | None = None
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
