"""Time of the multipoint functional's K solves against K and the number of worker processes.

For K = 2, 4, 8 Reynolds numbers over Re 5–40 (Gauss–Legendre in ln Re) on the coarse mesh of
cases/cylinder-re5-40-range.toml (16 B-spline coefficients) and `--workers` 1 and 2: the seconds to start
the workers, of a first evaluation with gradients (each state from Stokes or its neighbour), of three
further evaluations with gradients at nearby shapes (warm-started, as inside an optimization; with the
calling process's own CPU seconds, the wall time an idle machine would approach) and of one Hessian.
Prints a Markdown table, with the machine's core count and its load average (a shared machine gives no
speed-up where its cores are busy).

    python bench/range_workers.py
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from shapeopt.cases import Objective, load_case
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.fem.problem import DragProblem


def measure(count: int, workers: int) -> dict[str, float]:
    """Seconds of each stage for K = `count` and `workers` processes, and the mean objective (a check)."""
    case = load_case("cases/cylinder-re5-40-range.toml").with_overrides(level="coarse")
    case = dataclasses.replace(case, objective=Objective(re_range=(5.0, 40.0), points_count=count))
    rng = np.random.default_rng(0)
    with DragProblem(case) as problem:
        start = time.perf_counter()
        J = MultipointFunctional(problem, workers=workers)
        times = {"start": time.perf_counter() - start}
        try:
            shapes, _ = problem.space.project(0.05 * rng.standard_normal((4, J.size)))
            start = time.perf_counter()
            J.evaluate(shapes[0])
            times["first"] = time.perf_counter() - start
            start, cpu = time.perf_counter(), time.process_time()
            values = [J.evaluate(s).objective for s in shapes[1:]]
            times["warm"] = (time.perf_counter() - start) / 3
            times["warm_cpu"] = (time.process_time() - cpu) / 3
            start = time.perf_counter()
            J.hessian(shapes[-1])
            times["hessian"] = time.perf_counter() - start
        finally:
            J.close()
    return times | {"value": values[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}")
    print(
        "| K | workers | start s | first evaluation s | evaluation s (warm) | this process's CPU s (warm) "
        "| Hessian s | load | mean J |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for count in args.counts:
        for workers in args.workers:
            t = measure(count, workers)
            print(
                f"| {count} | {workers} | {t['start']:.2f} | {t['first']:.2f} | {t['warm']:.2f} | "
                f"{t['warm_cpu']:.2f} | "
                f"{t['hessian']:.2f} | {os.getloadavg()[0]:.1f} | {t['value']:.10f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
