"""SIGTERM as Ctrl-C: the signal batch schedulers (and `kill PID`) send ends a command the way Ctrl-C does,
finished work kept, with its own exit code (143 = 128 + 15)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from shapeopt.errors import Terminated


@dataclass
class Stop:
    """What stopped a command: `terminated` once SIGTERM arrived."""

    terminated: bool = False


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[Stop]:
    """While the `with` block runs (in the main thread), SIGTERM raises `Terminated`, a KeyboardInterrupt, so
    that it takes every path of Ctrl-C: `optimize` keeps its history, `train` saves the best network,
    `dataset` its completed samples. Once only: a second SIGTERM ends the process at once, as it would
    without the handler. The previous handler is restored on leaving."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def terminate(signum: int, frame) -> None:
        stop.terminated = True
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
