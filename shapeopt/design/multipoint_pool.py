"""The K flows of an operating range, solved by one process or shared among several.

`PointSolver` holds some of the Reynolds numbers on one `DragProblem` with each Re's last state: it
evaluates them at a shape (a solve each, warm-started from that Re's state, on the first evaluation from
its neighbour's) and their Hessians. `PointPool` shares the K Reynolds numbers among `workers` processes
in contiguous blocks: the calling process keeps the last block (the highest Re, whose state the run's flow
picture shows) on its own problem and the others go to worker processes, each with its own serial
`DragProblem` of the case (its own mesh copy, morph and factorisations). A call sends the shape to the
workers, solves its own block meanwhile, then gathers; the counts of solves, adjoints and Hessians done
in the workers are added to the calling process's problem, so the optimizers report them all.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import traceback
from collections.abc import Callable

import numpy as np

from shapeopt.cases import Case
from shapeopt.data.workers import serve, single_threaded_children
from shapeopt.errors import ShapeoptError
from shapeopt.fem.problem import DragProblem, Evaluation

_COUNTERS = ("fem_solves", "adjoint_solves", "hessians")


class PointSolver:
    """The Reynolds numbers `res` (k,), increasing, on `problem`, each with its last state (kept while the
    problem solves on the same mesh: a regenerated mesh has another DOF layout)."""

    def __init__(self, problem: DragProblem, res: tuple[float, ...]):
        self.problem, self.res = problem, res
        self._states: list[np.ndarray | None] = [None] * len(res)
        self._mesh = problem.flow_mesh.sha256

    def points(self, s: np.ndarray, gradient: bool) -> list[Evaluation]:
        """The evaluations at `s` (m,), one per Re (a solve each; adjoints if `gradient`)."""
        if self.problem.flow_mesh.sha256 != self._mesh:  # the states belong to another mesh
            self._states = [None] * len(self.res)
            self._mesh = self.problem.flow_mesh.sha256
        evaluations = []
        for k, re in enumerate(self.res):
            neighbour = self._states[k - 1] if k > 0 else None
            self.problem.start_from(self._states[k] if self._states[k] is not None else neighbour)
            evaluations.append(self.problem.evaluate(s, gradient=gradient, re=re))
            self._states[k] = self.problem.state()
        return evaluations

    def hessians(self, s: np.ndarray) -> list[np.ndarray]:
        """d²J(s, Re)/ds² (m, m) per Re, after `points(s)`: the last Re's on its cached solve, each other
        Re solved again from its state at `s` (a Newton step or none: one more solve each), as the
        Hessian's tangent solves need that Re's factorisation."""
        hessians: list[np.ndarray] = [np.empty(0)] * len(self.res)
        problem = self.problem
        for k in reversed(range(len(self.res))):
            re = self.res[k]
            problem.start_from(self._states[k])
            if k < len(self.res) - 1:
                problem.move_to(s)  # a solve, not the cached evaluation of another Re
            problem.evaluate(s, re=re)
            if problem.newton.iterations == 0:  # no factorisation at this Re
                problem.start_from(None)
                problem.move_to(s)
            hessians[k] = problem.evaluate(s, re=re, hessian=True).hessian
        return hessians

    def counts(self) -> dict[str, int]:
        """The problem's counts of solves, adjoints and Hessians so far."""
        return {name: getattr(self.problem, name) for name in _COUNTERS}


def _serve(connection, case: Case, res: tuple[float, ...], parent: int) -> None:
    """A worker: build the case's problem for the Reynolds numbers `res`, then answer ("points", s,
    gradient) and ("hessians", s) with (status, results, counts since the last answer) (`serve`). A
    `ShapeoptError` goes back as ("refused", exception) so the caller raises it (a refused trial shape)."""
    from shapeopt.fem import MPI

    def start() -> tuple[PointSolver, None]:
        return PointSolver(DragProblem(case, MPI.COMM_SELF), res), None

    serve(connection, parent, start, _answer, trailer=({},))


def _answer(solver: PointSolver, message: tuple) -> tuple:
    """(status, results, the solver's counts of solves, adjoints and Hessians this message cost)."""
    before = solver.counts()
    try:
        if message[0] == "points":
            answer = ("ok", solver.points(message[1], message[2]))
        else:
            answer = ("ok", solver.hessians(message[1]))
    except ShapeoptError as exc:
        answer = ("refused", exc)
    except Exception as exc:
        answer = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    after = solver.counts()
    return (*answer, {name: after[name] - before[name] for name in _COUNTERS})


def blocks(count: int, workers: int) -> list[range]:
    """`count` indices in `min(workers, count)` contiguous blocks of nearly equal size, in order."""
    edges = np.linspace(0, count, min(workers, count) + 1).round().astype(int)
    return [range(a, b) for a, b in itertools.pairwise(edges)]


class PointPool:
    """The Reynolds numbers `res` (K,) shared among `workers` processes (this one included): the last
    block on `problem` here, each other block on a worker process with its own problem of the case."""

    def __init__(self, problem: DragProblem, res: tuple[float, ...], workers: int = 1):
        self.problem, self.res = problem, res
        parts = blocks(len(res), workers)
        self._own = PointSolver(problem, tuple(res[k] for k in parts[-1]))
        self._connections: list = []
        self._processes: list = []
        self._remote_blocks = len(parts) - 1
        self._mesh = problem.flow_mesh.sha256  # the workers' mesh (each builds the case's own)
        if len(parts) > 1:
            self._start(problem.case, [tuple(res[k] for k in part) for part in parts[:-1]])

    @property
    def workers(self) -> int:
        """Processes solving: this one and the worker processes."""
        return 1 + len(self._processes)

    def _start(self, case: Case, parts: list[tuple[float, ...]]) -> None:
        with single_threaded_children() as context:
            for part in parts:
                mine, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs, case, part, os.getpid()), daemon=True)
                process.start()
                theirs.close()
                self._connections.append(mine)
                self._processes.append(process)
        for connection in self._connections:
            self._receive(connection)

    def _receive(self, connection):
        """One worker's answer: its results (its counts added to this process's problem); a refused shape
        raised as the worker's error, a failure as `ShapeoptError` after ending the workers."""
        try:
            status, payload, counts = connection.recv()
        except EOFError:
            self.close()
            raise ShapeoptError("an operating-range worker process ended unexpectedly") from None
        for name, value in counts.items():
            setattr(self.problem, name, getattr(self.problem, name) + value)
        if status == "refused":
            raise payload
        if status == "error":
            self.close()
            raise ShapeoptError(f"operating-range worker failed: {payload.splitlines()[0]}")
        return payload

    def _gather(self, message: tuple, own: Callable[[], list]) -> list:
        """Send `message` to the workers, compute `own()` here meanwhile, and return all results in the
        order of Re. Every worker's answer is read before a refusal is raised, so none is left waiting."""
        if len(self._connections) != self._remote_blocks:
            raise ShapeoptError("the operating-range worker processes have ended (closed or failed)")
        if self._connections and self.problem.flow_mesh.sha256 != self._mesh:
            raise ShapeoptError(
                "the mesh was regenerated during the run and the worker processes do not follow it yet: "
                "run with --workers 1"
            )
        for connection in self._connections:
            connection.send(message)
        mine, refusal = [], None
        try:
            mine = own()
        except ShapeoptError as exc:
            refusal = exc
        results = []
        for connection in list(self._connections):
            try:
                results.extend(self._receive(connection))
            except ShapeoptError as exc:
                if not self._processes:  # ended on a failure, not a refused shape
                    raise
                refusal = refusal or exc
        if refusal is not None:
            raise refusal
        return results + list(mine)

    def points(self, s: np.ndarray, gradient: bool) -> list[Evaluation]:
        """The K evaluations at `s` (m,) in the order of Re."""
        return self._gather(("points", s, gradient), lambda: self._own.points(s, gradient))

    def hessians(self, s: np.ndarray) -> list[np.ndarray]:
        """The K Hessians (m, m) at `s` (after `points(s)`), in the order of Re."""
        return self._gather(("hessians", s), lambda: self._own.hessians(s))

    def close(self) -> None:
        """End the worker processes (this process's problem stays)."""
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.send(None)
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        self._connections, self._processes = [], []
