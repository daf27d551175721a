"""The sphere's drag by axisymmetric Navier–Stokes against published values, Re 0.1–100, and the box size.

`cases/sphere.toml` (the meridional half-plane, box 40 D upstream, 80 D downstream, 40 D radially) on
each mesh level, against:
- the standard drag curve of Clift, Grace & Weber (1978, Bubbles, Drops and Particles, Table 5.2), a fit
  to the measurements: log₁₀(C_D Re/24 − 1) = −0.881 + 0.82 w − 0.05 w² for 0.01 < Re ≤ 20 and
  −0.7133 + 0.6305 w for 20 ≤ Re ≤ 260, w = log₁₀ Re;
- the smoothed measurements of the standard curve tabulated by Morsi & Alexander (1972, J. Fluid Mech.
  55, 193–208);
- Oseen's 24/Re (1 + 3Re/16), the first correction to Stokes's 24/Re, at Re ≤ 1.
Then, at Re 0.1, 1 and 10, the box scaled by ½, 1 and 2 (the flow about a sphere decays like 1/distance
at low Re, so the box's walls add drag of order D/box).

    OMP_NUM_THREADS=1 .venv/bin/python bench/sphere.py
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

from shapeopt.cases import LEVELS, load_case
from shapeopt.fem.simulate import run_solve

CASE = Path(__file__).resolve().parents[1] / "cases" / "sphere.toml"
REYNOLDS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
MEASURED = {
    0.1: 240,
    0.2: 120,
    0.5: 49,
    1.0: 26.5,
    2.0: 14.4,
    5.0: 6.9,
    10.0: 4.1,
    20.0: 2.55,
    50.0: 1.5,
    100.0: 1.07,
}


def standard_curve(re: float) -> float:
    """C_D of the Clift, Grace & Weber standard drag curve (0.01 < Re ≤ 260)."""
    w = math.log10(re)
    exponent = -0.881 + 0.82 * w - 0.05 * w**2 if re <= 20 else -0.7133 + 0.6305 * w
    return 24 / re * (1 + 10**exponent)


def oseen(re: float) -> float:
    return 24 / re * (1 + 3 * re / 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS)
    args = parser.parse_args()
    base = load_case(CASE)
    print(
        f"C_D of the sphere, box {base.domain.upstream:g} / {base.domain.downstream:g} / "
        f"{base.domain.half_width:g} D\n"
    )
    print(
        "| Re | "
        + " | ".join(f"C_D {level} (DOFs)" for level in args.levels)
        + " | standard curve | vs it | measured (Morsi & Alexander) | Oseen |"
    )
    print("|---|" + "---|" * (len(args.levels) + 4))
    for re in REYNOLDS:
        results = [run_solve(base.with_overrides(re=re, level=level))[0] for level in args.levels]
        cells = " | ".join(f"{r.cd:.4f} ({r.dofs})" for r in results)
        reference = standard_curve(re)
        low = f"{oseen(re):.2f}" if re <= 1 else "—"
        print(
            f"| {re:g} | {cells} | {reference:.4f} | {results[-1].cd / reference - 1:+.1%} "
            f"| {MEASURED[re]:g} | {low} |",
            flush=True,
        )
    print("\nBox size (level medium): C_D with every box length scaled\n")
    print("| Re | ×½ | ×1 | ×2 | change ×1 → ×2 |\n|---|---|---|---|---|")
    for re in (0.1, 1.0, 10.0):
        values = []
        for factor in (0.5, 1.0, 2.0):
            domain = dataclasses.replace(
                base.domain,
                upstream=factor * base.domain.upstream,
                downstream=factor * base.domain.downstream,
                half_width=factor * base.domain.half_width,
            )
            case = dataclasses.replace(base, domain=domain).with_overrides(re=re, level="medium")
            values.append(run_solve(case)[0].cd)
        print(
            f"| {re:g} | "
            + " | ".join(f"{cd:.4f}" for cd in values)
            + f" | {values[2] / values[1] - 1:+.2%} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
