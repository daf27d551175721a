"""The outputs of a fixed set of commands, to show that a change of code leaves behaviour as it was.

    python bench/behaviour.py --out before.json          # on one commit
    python bench/behaviour.py --out after.json           # on another
    python bench/behaviour.py --compare before.json after.json

Each command runs at the coarse level with `--json` in a scratch folder; what it prints and the files it
writes (summary.json, history.json, the dataset's arrays) are kept, less wall times and paths. The
comparison prints every number that differs by more than a relative 1e-7 and every key one side lacks.

Training is not bit-reproducible from run to run (its metrics differ by about 1e-9), and the surrogate
search breaks the tie between a start and its mirror image either way; so `--surrogate FILE` gives the
surrogate route and the atlas one fixed trained model (trained on a dataset at its recorded path).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"
NOISE = (
    "second",
    "time",
    "eta",
    "wall",
    "path",
    "folder",
    "file",
    "dir",
    "date",
    "host",
    "version",
    "checksum",
    "sha256",
)

PATHS = ("out", "dataset", "surrogate")  # keys that hold the scratch folder's paths


def commands(scratch: Path, fixed_model: Path | None) -> dict[str, list[str]]:
    """Name → shapeopt arguments; every one at the coarse level, in order (later ones read earlier files)."""
    data, trained = scratch / "d.h5", scratch / "s.pt"
    model = fixed_model or trained
    return {
        "solve-cylinder": ["solve", f"{CASES}/cylinder-re40.toml"],
        "solve-channel": ["solve", f"{CASES}/dfg-2d1.toml"],
        "solve-sphere": ["solve", f"{CASES}/sphere.toml"],
        "solve-tandem": ["solve", f"{CASES}/tandem-re20.toml"],
        "gradient-cylinder": ["gradient", f"{CASES}/cylinder-re20.toml", "--check"],
        "gradient-revolution": ["gradient", f"{CASES}/revolution.toml"],
        "optimize-newton": ["optimize", f"{CASES}/cylinder-re5.toml", "--out", f"{scratch}/newton"],
        "optimize-slsqp": [
            "optimize",
            f"{CASES}/fourier4-re40.toml",
            "--method",
            "adjoint",
            "--out",
            f"{scratch}/slsqp",
        ],
        "optimize-channel": ["optimize", f"{CASES}/dfg-2d1-optimize.toml", "--out", f"{scratch}/channel"],
        "dataset": ["dataset", f"{CASES}/cylinder-re1-40.toml", "--samples", "12", "--out", str(data)],
        "train": [
            "train",
            f"{CASES}/cylinder-re1-40.toml",
            "--data",
            str(data),
            "--method",
            "sobolev",
            "--epochs",
            "40",
            "--out",
            str(trained),
        ],
        "optimize-surrogate": [
            "optimize",
            f"{CASES}/fourier4-re40.toml",
            "--method",
            "surrogate",
            "--surrogate",
            str(model),
            "--out",
            f"{scratch}/surrogate",
        ],
        "atlas": [
            "atlas",
            f"{CASES}/cylinder-re1-40.toml",
            "--re",
            "5,10",
            "--surrogate",
            str(model),
            "--compare-adjoint",
            "--out",
            f"{scratch}/atlas",
        ],
    }


def quiet(value: object) -> object:
    """`value` with wall times and paths left out, recursively."""
    if isinstance(value, dict):
        return {
            k: quiet(v) for k, v in value.items() if k not in PATHS and not any(w in k.lower() for w in NOISE)
        }
    if isinstance(value, list):
        return [quiet(v) for v in value]
    return value


def outputs_of(name: str, args: list[str], scratch: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "shapeopt", *args, "--level", "coarse", "--json"],
        capture_output=True,
        text=True,
        cwd=scratch,
    )
    found: dict = {"exit": proc.returncode}
    try:
        found["printed"] = quiet(json.loads(proc.stdout))
    except json.JSONDecodeError:
        found["stderr"] = proc.stderr[-2000:]
    if "--out" in args:
        out = Path(args[args.index("--out") + 1])
        for path in sorted(out.rglob("*.json")) if out.is_dir() else []:
            found[str(path.relative_to(out))] = quiet(json.loads(path.read_text()))
        if out.suffix == ".h5" and out.is_file():
            with h5py.File(out) as f:
                found["arrays"] = quiet({k: np.asarray(f[k]).tolist() for k in sorted(f) if k != "state"})
    print(f"{name}: exit {proc.returncode}", file=sys.stderr)
    return found


def differences(a: object, b: object, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{where}/{k}: only in one" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            found += differences(a[k], b[k], f"{where}/{k}")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        same = np.isclose(a, b, rtol=1e-7, atol=1e-12) or (np.isnan(a) and np.isnan(b))
        return [] if same else [f"{where}: {a!r} → {b!r}"]
    return [] if a == b else [f"{where}: {str(a)[:80]!r} → {str(b)[:80]!r}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the outputs here (JSON)")
    parser.add_argument("--surrogate", type=Path, help="a fixed trained model for the surrogate route")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        found = differences(quiet(before), quiet(after))
        print("\n".join(found) if found else "the same outputs")
        sys.exit(1 if found else 0)
    with tempfile.TemporaryDirectory() as scratch:
        results = {
            name: outputs_of(name, a, Path(scratch))
            for name, a in commands(Path(scratch), args.surrogate).items()
        }
    args.out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
