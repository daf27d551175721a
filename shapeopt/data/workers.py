"""Worker processes: a spawn context whose children run single-threaded BLAS/OpenMP.

Each worker is one process per core; threaded BLAS inside it would oversubscribe the cores (measured:
14× slower reduced Jacobians with two workers on two cores).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
