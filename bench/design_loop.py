"""Design loop: 20 drag-reduction problems solved with one surrogate vs 20 FEM-adjoint optimizations.

The problems vary Re inside the surrogate's range, the area ratio and the parameter bounds. Every
surrogate answer is FEM-verified by the trust-region loop.
`.venv/bin/python bench/design_loop.py --surrogate data/cyl-sobolev.pt` (serial, one core).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import surrogates
from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.optimize import fem_solves_to_kkt, fem_solves_to_within, optimize_adjoint
from shapeopt.design.trust_region import TrustRegionSettings, optimize_surrogate
from shapeopt.fem.problem import DragProblem

CASES = Path(__file__).resolve().parents[1] / "cases"
PROBLEMS = [
    (re, ratio, bound)
    for re in (1.5, 3.0, 6.0, 12.0, 25.0)
    for ratio, bound in ((1.0, 0.6), (0.9, 0.6), (1.1, 0.6), (1.0, 0.4))
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", type=Path, default=Path("data/cyl-sobolev.pt"))
    parser.add_argument("--search-samples", type=int, default=TrustRegionSettings.global_samples)
    args = parser.parse_args()
    model = surrogates.load(args.surrogate)
    base = load_case(CASES / "cylinder-re1-40.toml")
    print(
        "| Re | area ratio | bound | C_D adjoint | C_D surrogate+TR | difference | FEM adjoint | FEM TR "
        "| to 0.5%: adjoint / TR | to KKT ≤ 1e-4: adjoint / TR | s adjoint | s TR |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    totals = {"adjoint_fem": 0, "tr_fem": 0, "adjoint_05": 0, "tr_05": 0, "adjoint_kkt": 0, "tr_kkt": 0}
    totals |= {"adjoint_s": 0.0, "tr_s": 0.0}
    totals["worst"] = 0.0
    for re, ratio, bound in PROBLEMS:
        case = dataclasses.replace(
            base,
            re=re,
            re_range=None,
            constraints=dataclasses.replace(base.constraints, area_ratio=ratio),
            shape=dataclasses.replace(base.shape, bound=bound),
        )
        adjoint = optimize_adjoint(ReducedFunctional(DragProblem(case)))
        trust = optimize_surrogate(
            ReducedFunctional(DragProblem(case)),
            model,
            TrustRegionSettings(global_samples=args.search_samples),
        )
        a, t = adjoint.final["cd"], trust.final["cd"]
        reach = [fem_solves_to_within(r.history, min(a, t), 5e-3) for r in (adjoint, trust)]
        kkt = [fem_solves_to_kkt(r.history, 1e-4) for r in (adjoint, trust)]
        # An optimizer that never got there is charged all its solves (the row shows None).
        totals["adjoint_05"] += reach[0] or adjoint.fem_solves
        totals["tr_05"] += reach[1] or trust.fem_solves
        totals["adjoint_kkt"] += kkt[0] or adjoint.fem_solves
        totals["tr_kkt"] += kkt[1] or trust.fem_solves
        totals["adjoint_fem"] += adjoint.fem_solves
        totals["tr_fem"] += trust.fem_solves
        totals["adjoint_s"] += adjoint.seconds
        totals["tr_s"] += trust.seconds
        totals["worst"] = max(totals["worst"], abs(t / a - 1))
        print(
            f"| {re:g} | {ratio:g} | {bound:g} | {a:.6f} | {t:.6f} | {t / a - 1:+.1e} | {adjoint.fem_solves} "
            f"| {trust.fem_solves} | {reach[0]} / {reach[1]} | {kkt[0]} / {kkt[1]} "
            f"| {adjoint.seconds:.1f} | {trust.seconds:.1f} |",
            flush=True,
        )
    print(
        f"\nTotal: adjoint {totals['adjoint_fem']} FEM solves, {totals['adjoint_s']:.0f} s; surrogate + TR "
        f"{totals['tr_fem']} FEM solves, {totals['tr_s']:.0f} s; largest C_D difference "
        f"{totals['worst']:.1e}; FEM solves until within 0.5% of the optimum:"
        f" adjoint {totals['adjoint_05']}, TR {totals['tr_05']}; until the KKT residual reached 1e-4:"
        f" adjoint {totals['adjoint_kkt']}, TR {totals['tr_kkt']}"
    )


if __name__ == "__main__":
    main()
