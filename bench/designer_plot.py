"""The learning curves of `bench/designer.py`: median and maximum gap against the FEM solves spent.

Reads the rows it wrote (`designer-rows.json` beside its `--truth`, one or more files, rows of the same
answer taken from the first) and draws each training method's gaps after every measured round, with the
atlas interpolations as single points.

    .venv/bin/python bench/designer_plot.py runs/designer-rows.json --out docs/images/designer-curves.png
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CURVE = re.compile(r"^(?P<method>[a-z-]+?)(?: after (?P<rounds>\d+) rounds)?$")
POINTS = ("nearest", "rbf", "rbf-seed", "supervised", "supervised-seed", "rbf-pg", "rbf-pg-steered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    for path in args.rows:
        for row in json.loads(path.read_text()):
            rows.setdefault(row["answer"], row)
    curves: dict[str, list[dict]] = {}
    for name, row in rows.items():
        match = CURVE.match(name)
        if name not in POINTS and match:
            curves.setdefault(match["method"], []).append(row)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = iter(plt.get_cmap("tab20").colors)
    colour = {name: next(colours) for name in [*sorted(curves), *POINTS]}
    for ax, key, title in zip(axes, ("median", "max"), ("median gap", "maximum gap"), strict=True):
        for method, points in sorted(curves.items()):
            points = sorted(points, key=lambda r: r["solves"])
            values = [max(p[key], 1e-10) for p in points]
            ax.plot([p["solves"] for p in points], values, "o-", color=colour[method], label=method)
        for name in POINTS:
            if name in rows:
                value = max(rows[name][key], 1e-10)
                ax.plot(rows[name]["solves"], value, "s", color=colour[name], label=name)
        ax.set_yscale("log")
        ax.set_xlabel("FEM solves to build the answer (seed atlas and rounds)")
        ax.set_title(f"{title} over the held-out conditions")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("(C_D(s) − C_D*) / C_D*")
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
