"""Datasets of FEM samples for surrogate training: designs, generation (serial, process pool, MPI), HDF5.

Sample `i` is fixed by the seed: the i-th point of a scrambled Sobol sequence over the parameter box and
log Re, projected onto the case's area/centroid constraints. Per sample the file holds s, Re, C_D, C_L,
dC_D/ds, dC_L/ds (adjoint), the state on the reference DOF layout, Newton iterations, seconds and the morph
quality; a failed sample is stored with its reason. Rerunning the same command resumes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shapeopt.cases import Case
from shapeopt.data.settings import DatasetSettings, sample_count_problems
from shapeopt.data.workers import end_with_parent, single_threaded_children
from shapeopt.designs import parameter_spec, sample_identity
from shapeopt.errors import CaseError, ShapeoptError
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem, Evaluation
from surrogates.datafile import DatasetError, SampleFile, check_writable

MIN_FEASIBLE_SHARE = 0.1  # a design box where fewer designs are admissible is refused before any solve


@dataclass
class Progress:
    """Counts for the progress line: samples done in this run, failures, total wanted, seconds."""

    done: int
    failed: int
    todo: int
    stored: int
    seconds: float


def compute_sample(
    problem: DragProblem, index: int, s: np.ndarray, re: float, feasible: bool
) -> dict[str, Any]:
    """One FEM sample with adjoint gradients, or a failure record with its reason."""
    start = time.perf_counter()
    row: dict[str, Any] = {"index": index, "s": s, "re": re}
    if not feasible:
        reason = "not admissible: outside the bounds, against a constraint, or beyond the mesh map"
        return row | {"status": 1, "reason": reason}
    try:
        evaluation = problem.evaluate(s, gradient=True, re=re)
    except ShapeoptError as exc:
        return row | {"status": 1, "reason": str(exc), "seconds": time.perf_counter() - start}
    return row | sample_row(evaluation, problem.state()) | {"seconds": time.perf_counter() - start}


def sample_row(evaluation: Evaluation, state: np.ndarray) -> dict[str, Any]:
    """A successful dataset row from an FEM evaluation with gradients and its state (n,)."""
    return {
        "status": 0,
        "s": evaluation.s,
        "re": evaluation.re,
        "cd": evaluation.objective,
        "cl": evaluation.lift,
        "dcd": evaluation.gradient,
        "dcl": evaluation.lift_gradient,
        "state": state,
        "newton_iterations": evaluation.newton_iterations,
        "quality": evaluation.quality,
        "seconds": evaluation.seconds,
    }


def generate(
    case: Case,
    out: Path,
    samples: int,
    seed: int = DatasetSettings.seed,
    workers: int = DatasetSettings.workers,
    progress: Callable[[Progress], None] | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> dict[str, Any]:
    """Fill `out` with `samples` samples (resuming what is there) over MPI ranks or `workers` processes."""
    problems = sample_count_problems(samples) + DatasetSettings(seed, workers).problems()
    if problems:
        raise ValueError("; ".join(problems))
    _on_root(comm, lambda: check_writable(out))  # before the mesh and the first solve
    problem = DragProblem(case, MPI.COMM_SELF)  # every rank (and worker) solves samples on its own
    designs = problem.space.sobol_samples(samples, seed, case.re_bounds)
    feasible = designs[2]
    if feasible.mean() < MIN_FEASIBLE_SHARE:
        raise CaseError(
            f"case '{case.name}': only {feasible.sum()} of {samples} drawn designs are admissible "
            "shapes (simple curves the mesh map holds, meeting the "
            "constraints); sample a narrower box (shape.bound)"
        )
    writer = None

    def open_writer() -> list[int]:
        nonlocal writer
        writer = _sample_file(problem, out, seed)
        done = writer.done()
        return [i for i in range(samples) if i not in done]

    todo = _on_root(comm, open_writer)
    start = time.perf_counter()
    counts = {"done": 0, "failed": 0}
    computed = _computed_rows(problem, todo, designs, workers, comm)
    try:
        for rows in computed:
            for row in rows:
                writer.append(row)
                counts["done"] += 1
                counts["failed"] += row["status"] != 0
            if progress is not None:
                stored = samples - len(todo) + counts["done"]
                seconds = time.perf_counter() - start
                progress(Progress(counts["done"], counts["failed"], len(todo), stored, seconds))
    finally:
        computed.close()  # Ctrl-C, SIGTERM, an error: worker processes end now
        if writer is not None:
            writer.close()
    return {
        "samples": samples,
        "computed": counts["done"],
        "failed": counts["failed"],
        "seconds": time.perf_counter() - start,
    }


def _sample_file(problem: DragProblem, out: Path, seed: int) -> SampleFile:
    """The dataset file `out` opened for appending (created, or resumed when its identity matches)."""
    case = problem.case
    attrs = {
        "case": case.to_dict(),
        "spec": parameter_spec(case),
        "mesh_sha256": problem.flow_mesh.sha256,
        "re_range": list(case.re_bounds),
        "seed": seed,
        "level": case.level,
    }
    identity = sample_identity(case) | {
        "mesh_sha256": problem.flow_mesh.sha256,
        "seed": seed,
        "design": problem.space.draw_version,
    }
    return SampleFile(out, problem.size, len(problem.state()), attrs, problem.state_weights(), identity)


def _computed_rows(
    problem: DragProblem,
    todo: list[int],
    designs: tuple[np.ndarray, np.ndarray, np.ndarray],
    workers: int,
    comm: MPI.Comm,
) -> Iterator[list[dict[str, Any]]]:
    """The rows of samples `todo` of `designs` (s (n, m), Re (n,), feasible (n,)), in groups that rank 0
    stores: rounds over MPI ranks, one sample at a time from a process pool or in this process."""
    s, re, feasible = designs
    if comm.size > 1:
        # Lockstep rounds: rank r takes the r-th sample of each round; rank 0 writes the round.
        for first in range(0, len(todo), comm.size):
            mine = first + comm.rank
            row = None
            if mine < len(todo):
                i = todo[mine]
                row = compute_sample(problem, i, s[i], re[i], feasible[i])
            rows = comm.gather(row, root=0)
            if comm.rank == 0:
                yield [r for r in rows if r is not None]
    elif workers > 1:
        # closed when this generator is: the pool's workers end then, not when a traceback is freed
        with contextlib.closing(_pool_samples(problem.case, todo, s, re, feasible, workers)) as rows:
            for row in rows:
                yield [row]
    else:
        for i in todo:
            yield [compute_sample(problem, i, s[i], re[i], feasible[i])]


def _on_root(comm: MPI.Comm, work: Callable[[], Any]) -> Any:
    """`work()` on rank 0, its result broadcast; a `DatasetError` there is raised on every rank."""
    outcome: tuple[bool, Any] = (True, None)
    if comm.rank == 0:
        try:
            outcome = (True, work())
        except DatasetError as exc:
            outcome = (False, str(exc))
    ok, value = comm.bcast(outcome, root=0)
    if not ok:
        raise DatasetError(value)
    return value


_worker_problem: DragProblem | None = None


def _init_worker(case: Case, parent: int) -> None:
    global _worker_problem
    end_with_parent(parent)
    _worker_problem = DragProblem(case, MPI.COMM_SELF)


def _work(task: tuple[int, np.ndarray, float, bool]) -> dict[str, Any]:
    return compute_sample(_worker_problem, *task)


def _pool_samples(case, todo, s, re, feasible, workers) -> Iterator[dict[str, Any]]:
    """The rows of samples `todo`, as `workers` processes finish them. Stopped early (Ctrl-C, SIGTERM, an
    error, the generator closed), the samples not started are cancelled and each worker ends after the
    sample in hand, which is not stored (the workers ignore Ctrl-C and SIGTERM; killing one in the middle
    of sending its result would leave the pool waiting for the rest of the message for ever). The workers
    also end with this process (`end_with_parent`)."""
    tasks = [(i, s[i], float(re[i]), bool(feasible[i])) for i in todo]
    initargs = (case, os.getpid())
    with (
        single_threaded_children() as context,
        ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs) as pool,
    ):
        futures = [pool.submit(_work, task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise ShapeoptError("a dataset worker process died; the samples stored so far are kept") from None
        finally:
            for future in futures:  # here, not by `shutdown(cancel_futures=True)`: that relies on the pool
                future.cancel()  # object outliving this frame; the `with` then waits for samples in hand
