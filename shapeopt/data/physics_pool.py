"""`PhysicsPool`: the FEM `Physics` in several worker processes, so that a batch's physics runs in parallel.

Each worker builds its own `DragProblem` (serial) and `FEMPhysics`. Call `i` of a batch always goes to
worker `i mod W`, so the Jacobian that a worker assembled for a sample in the forward pass is still cached
when the backward pass asks for its transpose product.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from shapeopt.cases import Case
from shapeopt.data.workers import serve, single_threaded_children
from shapeopt.errors import CaseError, ShapeoptError
from surrogates.physics import Physics


def _serve(connection, case: Case, parent: int) -> None:
    """A worker: build the case's physics, then answer batches of calls (`serve`)."""
    from shapeopt.fem import MPI
    from shapeopt.fem.physics import FEMPhysics
    from shapeopt.fem.problem import DragProblem

    def start() -> tuple[FEMPhysics, str]:
        problem = DragProblem(case, MPI.COMM_SELF)
        return FEMPhysics(problem), problem.flow_mesh.sha256

    serve(connection, parent, start, _answer)


def _answer(physics, message: tuple[str, list]) -> tuple[str, Any]:
    """("ok", the results of the calls `message` names) or ("error", what went wrong)."""
    name, calls = message
    try:
        method = getattr(physics, name)
        return "ok", [method(*call) for call in calls]
    except Exception as exc:
        return "error", f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"


class _Pending:
    """Results of one batch call, collected from the workers on `result()`."""

    def __init__(self, pool: PhysicsPool, n_calls: int, busy: list[int]):
        self.pool, self.n_calls, self.busy = pool, n_calls, busy

    def done(self) -> bool:
        """Whether `result()` would return without waiting."""
        return all(self.pool._connections[w].poll() for w in self.busy)

    def result(self) -> list:
        out: list[Any] = [None] * self.n_calls
        errors = []
        for w in self.busy:
            status, payload = self.pool._receive(w)
            if status != "ok":
                errors.append(payload.splitlines()[0])
                continue
            out[w :: self.pool.workers] = payload
        self.pool._pending = None
        if errors:
            raise ShapeoptError(f"physics worker failed: {errors[0]}")
        return out


class PhysicsPool:
    """`Physics` over `workers` spawned processes; `map_async(name, calls)` spreads a batch over them."""

    def __init__(self, case: Case, workers: int = 2):
        self.workers = workers
        self._connections, self._processes = [], []
        self._pending: _Pending | None = None
        with single_threaded_children() as context:
            for _ in range(workers):
                parent, child = context.Pipe()
                process = context.Process(target=_serve, args=(child, case, os.getpid()), daemon=True)
                process.start()
                child.close()
                self._connections.append(parent)
                self._processes.append(process)
        hashes = set()
        for w in range(workers):
            status, payload = self._receive(w)
            if status != "ready":
                self.close()
                raise ShapeoptError(f"physics worker could not start: {payload}")
            hashes.add(payload)
        (self.mesh_sha256,) = hashes

    def _receive(self, w: int):
        try:
            return self._connections[w].recv()
        except EOFError:
            return ("error", f"worker {w} died (exit code {self._processes[w].exitcode})")

    def map_async(self, name: str, calls: Sequence[tuple[Any, ...]]) -> _Pending:
        """Send `physics.<name>(*call)` for every call; the returned object's `result()` waits for them."""
        if self._pending is not None:
            raise RuntimeError("one batch at a time: collect the previous result first")
        busy = []
        for w in range(self.workers):
            chunk = list(calls[w :: self.workers])
            if chunk:
                self._connections[w].send((name, chunk))
                busy.append(w)
        self._pending = _Pending(self, len(calls), busy)
        return self._pending

    def _one(self, name: str, *args) -> Any:
        return self.map_async(name, [args]).result()[0]

    def residual(self, s, re, w) -> np.ndarray:
        return self._one("residual", s, re, w)

    def jacobian_product(self, s, re, w, v) -> np.ndarray:
        return self._one("jacobian_product", s, re, w, v)

    def jacobian_transpose_product(self, s, re, w, v) -> np.ndarray:
        return self._one("jacobian_transpose_product", s, re, w, v)

    def reduced_jacobian(self, s, re, w, basis) -> np.ndarray:
        return self._one("reduced_jacobian", s, re, w, basis)

    def newton_step(self, s, re, w, damping: float | None = None) -> np.ndarray:
        return self._one("newton_step", s, re, w, damping)

    def coefficients(self, s, re, w) -> np.ndarray:
        return self._one("coefficients", s, re, w)

    def close(self) -> None:
        """Stop the workers: at once while a batch is in progress (Ctrl-C, SIGTERM or an error stopped its
        caller, who no longer wants it), else once they have taken the message to stop."""
        if self._pending is not None:
            for process in self._processes:
                process.kill()
        for connection in self._connections:
            with contextlib.suppress(BrokenPipeError, OSError):
                connection.send(None)
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        self._connections, self._processes = [], []

    def __enter__(self) -> PhysicsPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def open_physics(case: Case, workers: int = 2, mesh_sha256: str | None = None) -> Iterator[Physics]:
    """The FEM physics of a case: a `PhysicsPool` of `workers` processes, or (1) `FEMPhysics` here.

    With `mesh_sha256`, refuses a reference mesh other than the one a dataset was made on.
    """
    if workers > 1:
        physics = PhysicsPool(case, workers)
        sha = physics.mesh_sha256
    else:
        from shapeopt.fem import MPI
        from shapeopt.fem.physics import FEMPhysics
        from shapeopt.fem.problem import DragProblem

        physics = FEMPhysics(DragProblem(case, MPI.COMM_SELF))
        sha = physics.problem.flow_mesh.sha256
    try:
        if mesh_sha256 is not None and sha != mesh_sha256:
            raise CaseError(f"the dataset was made on another reference mesh than case '{case.name}'")
        yield physics
    finally:
        if workers > 1:
            physics.close()
