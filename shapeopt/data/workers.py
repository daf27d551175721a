"""Worker processes: a spawn context whose children run single-threaded BLAS/OpenMP, and end with their
parent.

Each worker is one process per core; threaded BLAS inside it would oversubscribe the cores (measured:
14× slower reduced Jacobians with two workers on two cores). A worker ignores Ctrl-C and SIGTERM (its
parent handles them, keeps what is finished and ends it), and ends when its parent does, `kill -9`
included (`end_with_parent`): an orphan would wait for work forever.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_CHECK_SECONDS = 1.0


@contextmanager
def single_threaded_children() -> Iterator[multiprocessing.context.SpawnContext]:
    """Spawn context; processes started inside the `with` block get one BLAS/OpenMP thread each."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    try:
        yield multiprocessing.get_context("spawn")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def serve(
    connection,
    parent: int,
    start: Callable[[], tuple[Any, Any]],
    answer: Callable[[Any, Any], tuple],
    trailer: tuple = (),
) -> None:
    """A worker's life: `end_with_parent(parent)`, then `start()` → (what it serves, the payload of its
    ("ready", payload) message; a failure goes back as ("error", one line)), then `answer(served,
    message)` sent back for each message until told to stop (None) or the parent is gone (its end of the
    pipe closed). `trailer` ends the ready and error messages (a protocol whose answers carry more)."""
    end_with_parent(parent)
    try:
        served, payload = start()
    except Exception as exc:  # reported to the parent as one line
        connection.send(("error", f"{type(exc).__name__}: {exc}", *trailer))
        return
    connection.send(("ready", payload, *trailer))
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        connection.send(answer(served, message))


def end_with_parent(parent: int) -> None:
    """In a worker process whose parent has pid `parent`: ignore Ctrl-C and SIGTERM (the parent handles
    them and ends its workers), and end when the parent ends, however it ends. On Linux the kernel kills
    the worker at once (`prctl(PR_SET_PDEATHSIG, SIGKILL)`); everywhere a daemon thread checks every
    second whether the parent is still the parent (a worker busy in compiled code is ended once it
    returns to Python)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="end-with-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    """End this process (no cleanup: its parent is gone) once `parent` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)
