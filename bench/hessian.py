"""The exact Hessian of the drag at the optimum: its cost in solve equivalents, its accuracy, its spectrum.

For each design space (`--spaces MODES:STRETCH ...`) and Re (`--re`): the least-drag body by `shapeopt
optimize --method newton` (run folder OUT/reN-mM-kS reused when complete), then at that optimum

- the seconds of a Newton solve from Stokes, of one started from a neighbouring state (what an optimizer
  pays per step), of the adjoint gradients and of the Hessian (m tangent-linear back-substitutions and
  four assemblies), each the median of `--repeat`, and the Hessian in warm-solve equivalents;
- the Hessian against central differences of adjoint gradients (step 1e-3, one random direction);
- the spectrum of the reduced Hessian on the tangent space of the active constraints: of C_D alone
  (ZᵀHZ) and of the Lagrangian (Zᵀ(H − Σ νᵢ ∇²gᵢ)Z, multipliers ν by least squares, constraint Hessians
  by central differences of their exact Jacobians), smallest and largest eigenvalue and condition number.

    OMP_NUM_THREADS=1 .venv/bin/python bench/hessian.py [--re 1 40] [--spaces 24:1 16:3] [--out runs/hessian]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from fem_counts import stored_or_optimized
from scipy.linalg import null_space

from shapeopt.cases import load_case
from shapeopt.fem.problem import DragProblem

CASES = Path(__file__).resolve().parents[1] / "cases"


def median_seconds(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def active_jacobian(problem: DragProblem, s: np.ndarray) -> tuple[np.ndarray, list]:
    """The active constraints' Jacobian (k, m) at `s` and, per row, a function s ↦ that row (m,)."""
    space = problem.space
    rows = [lambda x, i=i: space.constraints(x)[1][i] for i in range(len(space.constraints(s)[0]))]
    rows += [lambda x, i=i: space.thickness(x)[1][i] for i in space.active_thickness(s)]
    rows += [lambda x, i=i: np.eye(space.size)[i] for i in space.active_bounds(s)]
    return np.array([row(s) for row in rows]), rows


def reduced_spectra(problem: DragProblem, s: np.ndarray, gradient: np.ndarray, hessian: np.ndarray) -> dict:
    """Eigenvalues of ZᵀHZ and of the Lagrangian's Zᵀ(H − Σ νᵢ∇²gᵢ)Z on the active constraints' tangent
    space."""
    jacobian, rows = active_jacobian(problem, s)
    multipliers, *_ = np.linalg.lstsq(jacobian.T, gradient, rcond=None)
    h = 1e-6
    curvature = np.zeros_like(hessian)
    for nu, row in zip(multipliers, rows, strict=True):
        second = np.array([(row(s + h * e) - row(s - h * e)) / (2 * h) for e in np.eye(len(s))])
        curvature += nu * 0.5 * (second + second.T)
    Z = null_space(jacobian)
    return {
        "objective": np.linalg.eigvalsh(Z.T @ hessian @ Z),
        "lagrangian": np.linalg.eigvalsh(Z.T @ (hessian - curvature) @ Z),
        "tangent_dimension": Z.shape[1],
    }


def measure(problem: DragProblem, s: np.ndarray, repeat: int) -> dict:
    """Timings, the finite-difference check and the spectra at the optimum `s`."""
    solver, re = problem.solver, problem.case.re
    problem.evaluate(s, hessian=True)  # compiles the Hessian's forms once
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(problem.size)
    direction /= np.linalg.norm(direction)
    problem.evaluate(s + 1e-2 * direction)
    neighbour = problem.state()
    problem.move_to(s)
    cold = median_seconds(lambda: solver.solve(re=re), repeat)
    warm = median_seconds(lambda: solver.solve(re=re, initial=neighbour), repeat)
    adjoint = median_seconds(problem.adjoint.gradients, repeat)
    evaluation = problem.evaluate(s, gradient=True)

    def hessian_only() -> None:
        evaluation.hessian = None  # the solve and the gradients stay cached
        problem.evaluate(s, hessian=True)

    hessian_seconds = median_seconds(hessian_only, repeat)
    gradient, hessian = evaluation.gradient.copy(), evaluation.hessian.copy()
    plus = problem.evaluate(s + 1e-3 * direction, gradient=True).gradient.copy()
    minus = problem.evaluate(s - 1e-3 * direction, gradient=True).gradient
    central = (plus - minus) / 2e-3
    error = np.linalg.norm(central - hessian @ direction) / np.linalg.norm(hessian @ direction)
    return {
        "dofs": solver.dofs,
        "cold": cold,
        "warm": warm,
        "adjoint": adjoint,
        "hessian": hessian_seconds,
        "fd_error": float(error),
        **reduced_spectra(problem, s, gradient, hessian),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--re", type=int, nargs="+", default=[1, 40])
    parser.add_argument("--spaces", nargs="+", default=["24:1", "16:3"], help="MODES:STRETCH")
    parser.add_argument("--level", default="medium")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/hessian"))
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {platform.processor() or platform.machine()}; level {args.level}\n")
    print(
        "| Re | coefficients, stretch | DOFs | solve from Stokes s | warm solve s | adjoint s | Hessian s "
        "| Hessian / warm solve | per direction | FD error | tangent dim | eig ZᵀHZ min … max (cond) "
        "| eig Lagrangian min … max (cond) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for re in args.re:
        for space in args.spaces:
            modes, stretch = int(space.split(":")[0]), float(space.split(":")[1])
            case = load_case(CASES / f"cylinder-re{re}.toml").with_overrides(level=args.level)
            shape = dataclasses.replace(case.shape, modes=modes, knot_stretch=stretch)
            case = dataclasses.replace(case, shape=shape)
            run = args.out / f"re{re}-m{modes}-k{stretch:g}"
            summary, _ = stored_or_optimized(case, run, "newton")
            with DragProblem(case) as problem:
                m = measure(problem, np.asarray(summary["final"]["s"]), args.repeat)
            (run / "hessian.json").write_text(
                json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in m.items()})
            )
            obj, lag = m["objective"], m["lagrangian"]
            print(
                f"| {re} | {modes}, {stretch:g} | {m['dofs']} | {m['cold']:.2f} | {m['warm']:.2f} "
                f"| {m['adjoint']:.2f} | {m['hessian']:.2f} | {m['hessian'] / m['warm']:.2f} "
                f"| {m['hessian'] / m['warm'] / modes:.3f} | {m['fd_error']:.1e} | {m['tangent_dimension']} "
                f"| {obj[0]:.3g} … {obj[-1]:.3g} ({abs(obj[-1] / obj[0]):.0f}) "
                f"| {lag[0]:.3g} … {lag[-1]:.3g} ({abs(lag[-1] / lag[0]):.0f}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
