"""The surrogate where the trust region needs it: its gradient and curvature at an FEM optimum off the grid.

At the FEM optimum of one problem (`--re`, `--area-ratio`; the Newton optimizer on cases/wide-re1-40.toml,
run folder `--out` reused when complete): the component of each gradient on the tangent space of the area
and centroid constraints (Z (m, m − 3), orthonormal), relative to |∇C_D| by FEM, and the reduced Hessians
ZᵀHZ of C_D by FEM (exact, tangent-linear) and of the surrogate (mirror-averaged as the trust region
queries it; central differences of its autograd gradient, step 1e-4): their eigenvalues and the
spectral-norm error ‖Zᵀ(H_S − H_FEM)Z‖₂ / ‖ZᵀH_FEM Z‖₂. Targets of the surrogate work: gradient within
5 % of |∇C_D|, reduced Hessian within 25 %.

    OMP_NUM_THREADS=1 .venv/bin/python bench/surrogate_curvature.py \
        --surrogate data/wide-medium-160-sobolev.pt
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from fem_counts import stored_or_optimized
from scipy.linalg import null_space

import surrogates
from shapeopt.cases import load_case
from shapeopt.design.surrogate_search import MirroredSurrogate
from shapeopt.fem.problem import DragProblem

CASE = Path(__file__).resolve().parents[1] / "cases" / "wide-re1-40.toml"


def surrogate_hessian(model: MirroredSurrogate, s: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central differences of the mirror-averaged surrogate's gradient: (m, m), symmetrised."""
    rows = [(model(s + step * e)[1] - model(s - step * e)[1]) / (2 * step) for e in np.eye(len(s))]
    hessian = np.array(rows)
    return 0.5 * (hessian + hessian.T)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", type=Path, required=True)
    parser.add_argument("--re", type=float, default=15.0)
    parser.add_argument("--area-ratio", type=float, default=0.95)
    parser.add_argument("--level", default="medium")
    parser.add_argument("--out", type=Path, default=Path("runs/surrogate-curvature"))
    args = parser.parse_args()
    base = load_case(CASE).with_overrides(level=args.level)
    constraints = dataclasses.replace(base.constraints, area_ratio=args.area_ratio)
    case = dataclasses.replace(base, re=args.re, re_range=None, constraints=constraints)
    run = args.out / f"re{args.re:g}-area{args.area_ratio:g}"
    summary, _ = stored_or_optimized(case, run, "newton")
    s = np.asarray(summary["final"]["s"])
    with DragProblem(case) as problem:
        fem = problem.evaluate(s, hessian=True)
        mirror = problem.space.shape.mirror()
        _, jacobian = problem.space.constraints(s)
    Z = null_space(jacobian)
    model = MirroredSurrogate(surrogates.load(args.surrogate), mirror, args.re)
    cd_s, grad_s = model(s)
    reduced_fem = Z.T @ fem.hessian @ Z
    reduced_s = Z.T @ surrogate_hessian(model, s) @ Z
    scale = np.linalg.norm(fem.gradient)
    error = np.linalg.norm(reduced_s - reduced_fem, 2) / np.linalg.norm(reduced_fem, 2)
    eig_fem, eig_s = np.linalg.eigvalsh(reduced_fem), np.linalg.eigvalsh(reduced_s)
    print(f"Re {args.re:g}, area ratio {args.area_ratio:g}, level {args.level}, surrogate {args.surrogate}")
    print(
        f"C_D: FEM {fem.objective:.6f}, surrogate {cd_s:.6f} ({cd_s / fem.objective - 1:+.2e}); "
        f"|∇C_D| FEM {scale:.3e}"
    )
    print(f"tangent-space gradient / |∇C_D|: FEM {np.linalg.norm(Z.T @ fem.gradient) / scale:.2e}, ", end="")
    print(f"surrogate {np.linalg.norm(Z.T @ grad_s) / scale:.2e} (target ≤ 5e-2)")
    print(f"reduced Hessian eigenvalues: FEM {eig_fem[0]:.3g} … {eig_fem[-1]:.3g}, ", end="")
    print(f"surrogate {eig_s[0]:.3g} … {eig_s[-1]:.3g} ({int(np.sum(eig_s < 0))} of {len(eig_s)} negative)")
    print(f"reduced Hessian error (spectral norm): {error:.0%} (target ≤ 25%)")


if __name__ == "__main__":
    main()
