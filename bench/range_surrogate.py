"""The surrogate route against the FEM Newton route over operating ranges, with one surrogate trained over
Re 1–40 (the demo's: 48 coarse samples of the narrow Fourier space). For each case of
cases/demo-ranges/ it runs `optimize --method newton` and `optimize --method surrogate --surrogate FILE`
on the coarse mesh and prints a Markdown table: final mean objective of each, their relative difference,
FEM solves and seconds (as each run's summary.json records them).

    python bench/range_surrogate.py --surrogate data/demo-coarse-48-sobolev.pt --out runs/range-bench
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CASES = sorted(Path("cases/demo-ranges").glob("*.toml"))


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
    args = parser.parse_args()
    rows = []
    for case in CASES:
        newton, surrogate = (run(case, m, args.surrogate, args.out) for m in ("newton", "surrogate"))
        jn, js = newton["final"]["cd"], surrogate["final"]["cd"]
        rows.append(
            f"| {case.stem} | {jn:.6f} | {js:.6f} | {js / jn - 1:+.1e} | {newton['fem_solves']} | "
            f"{surrogate['fem_solves']} | {newton['seconds']:.1f} | {surrogate['seconds']:.1f} |"
        )
    print(
        "| case | J newton | J surrogate | rel. diff. | FEM newton | FEM surrogate | s newton | s surrogate |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
