"""The surrogate route against the FEM Newton route over operating ranges, with one surrogate trained over
Re 1–40 (the demo's: 48 coarse samples of the narrow Fourier space). For each range case of `--cases`
(default cases/demo-ranges/) it runs `optimize --method newton` and `optimize --method surrogate
--surrogate FILE` on the coarse mesh and prints a Markdown table: final mean objective of each, their
relative difference, FEM solves and seconds (as each run's summary.json records them), the totals with
the surrogate's dataset counted once, and after how many ranges the surrogate route breaks even in FEM solves.

    python bench/range_surrogate.py --surrogate data/demo-coarse-48-sobolev.pt --out runs/range-bench
    python bench/range_surrogate.py --cases cases/wide-ranges --surrogate data/wide-coarse-64-sobolev.pt \
        --out runs/range-bench-wide
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def run(case: Path, method: str, surrogate: Path, out: Path) -> dict:
    """summary.json of `optimize CASE --level coarse --method METHOD` written to out/CASE-METHOD."""
    folder = out / f"{case.stem}-{method}"
    extra = ["--surrogate", str(surrogate)] if method == "surrogate" else []
    command = [sys.executable, "-m", "shapeopt", "optimize", str(case), "--level", "coarse"]
    subprocess.run([*command, "--method", method, *extra, "--out", str(folder)], check=True)
    return json.loads((folder / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/range-bench"))
    parser.add_argument("--cases", type=Path, default=Path("cases/demo-ranges"), help="folder of range cases")
    args = parser.parse_args()
    from shapeopt.cases import load_case

    # the range cases of the folder (a dataset's case there gives Re as a range but no objective range)
    cases = [path for path in sorted(args.cases.glob("*.toml")) if load_case(path).objective.multipoint]
    from shapeopt.app.surrogate_route import SurrogateRoute

    dataset = int(SurrogateRoute.open(args.surrogate).model.meta["dataset_rows"])
    rows, totals = [], {"newton": 0, "surrogate": 0, "s newton": 0.0, "s surrogate": 0.0, "worst": 0.0}
    for case in cases:
        newton, surrogate = (run(case, m, args.surrogate, args.out) for m in ("newton", "surrogate"))
        jn, js = newton["final"]["cd"], surrogate["final"]["cd"]
        totals["newton"] += newton["fem_solves"]
        totals["surrogate"] += surrogate["fem_solves"]
        totals["s newton"] += newton["seconds"]
        totals["s surrogate"] += surrogate["seconds"]
        totals["worst"] = max(totals["worst"], abs(js / jn - 1))
        rows.append(
            f"| {case.stem} | {jn:.6f} | {js:.6f} | {js / jn - 1:+.1e} | {newton['fem_solves']} | "
            f"{surrogate['fem_solves']} | {newton['seconds']:.1f} | {surrogate['seconds']:.1f} |"
        )
    print(
        "| case | J newton | J surrogate | rel. diff. | FEM newton | FEM surrogate | s newton | s surrogate |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"| total ({len(cases)} ranges) | | | max {totals['worst']:.1e} | {totals['newton']} | "
        f"{totals['surrogate']} + {dataset} (dataset) = {totals['surrogate'] + dataset} | "
        f"{totals['s newton']:.1f} | {totals['s surrogate']:.1f} |"
    )
    saved = (totals["newton"] - totals["surrogate"]) / len(cases)
    ratio = (totals["surrogate"] + dataset) / totals["newton"]
    even = f"after {dataset / saved:.1f} ranges" if saved > 0 else "never (no solves saved per range)"
    print(
        f"\nFEM solves, surrogate route / Newton: {ratio:.2f}; saved per range {saved:.1f}; "
        f"the {dataset}-sample dataset is paid back {even}."
    )


if __name__ == "__main__":
    main()
