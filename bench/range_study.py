"""What a body for an operating range of Re buys: its C_D and regret over the range beside each Re's own
optimum, the optimum at the range's middle Re, and the least-worst-regret body.

For a case with `objective.re_range` (default cases/cylinder-re5-40-range.toml) on one mesh level:

1. each Re's own optimum C_D*(Re) on a grid of `--grid` Reynolds numbers evenly spaced in ln Re, ends
   included (Newton, each started from the optimum of the Re before it);
2. the mean body: Newton on the case's weighted mean (its quadrature, `MultipointFunctional`);
3. the minimax body: the worst relative regret over every other grid point (ends included) by the
   epigraph SLSQP (`design.regret`), C_D* from step 1;
4. every body, the middle-Re optimum and the two end optima among them, evaluated on the grid: C_D(Re),
   the regret C_D / C_D* − 1, the mean (the case's quadrature) and the worst regret over the grid.

Writes OUT/NAME-study.json, and IMAGES/NAME-cd.png (C_D and C_D − C_D* against Re),
IMAGES/NAME-regret.png (regret curves), IMAGES/NAME-outlines.png (outlines overlaid), and prints a
Markdown table (mean J, worst regret, length/height, tip angles, FEM solves and seconds of each body's
own optimization).

    python bench/range_study.py cases/cylinder-re5-40-range.toml --level coarse --images docs/images
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from shapeopt.cases import load_case
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.design.newton import optimize_newton
from shapeopt.design.regret import optimize_worst_regret
from shapeopt.fem.problem import DragProblem
from shapeopt.geometry.outlines import extent, tip_angles


def timed(problem: DragProblem, run):
    """`run()`'s value with the FEM solves and seconds it took."""
    solves, start = problem.fem_solves, time.perf_counter()
    value = run()
    return value, problem.fem_solves - solves, time.perf_counter() - start


def study(case_path: Path, level: str, grid_count: int, workers: int) -> dict:
    """The study's numbers (see the module's docstring) as plain data."""
    case = load_case(case_path).with_overrides(level=level)
    low, high = case.objective.re_range
    grid = np.exp(np.linspace(np.log(low), np.log(high), grid_count))
    bodies: dict[str, dict] = {}
    with DragProblem(case) as problem:
        shape = problem.space.shape
        optima, start = [], None
        for re in grid:  # each Re's own optimum, along Re
            result, solves, seconds = timed(
                problem, lambda re=re, start=start: optimize_newton(ReducedFunctional(problem, re), start)
            )
            optima.append(result)
            start = np.asarray(result.final.s)
            bodies[f"optimum at Re {re:.3g}"] = {"s": result.final.s, "solves": solves, "seconds": seconds}
        stars = np.array([r.final.objective_value for r in optima])
        mean = MultipointFunctional(problem, workers=workers)
        middle = grid_count // 2
        try:
            result, solves, seconds = timed(problem, lambda: optimize_newton(mean, optima[middle].final.s))
            bodies["mean body"] = {"s": result.final.s, "solves": solves, "seconds": seconds}
            every_other = grid[::2]
            minimax = MultipointFunctional(problem, every_other, workers=workers)
            try:
                result, solves, seconds = timed(
                    problem,
                    lambda: optimize_worst_regret(minimax, stars[::2], optima[middle].final.s),
                )
            finally:
                minimax.close()
            bodies["minimax body"] = {"s": result.final.s, "solves": solves, "seconds": seconds}
            on_grid = MultipointFunctional(problem, grid, workers=workers)
            try:
                for body in bodies.values():
                    s = np.asarray(body["s"])
                    body["cd"] = [p.objective for p in on_grid.points(s)]
                    body["regret"] = (np.array(body["cd"]) / stars - 1).tolist()
                    body["mean"] = mean(s)
                    outline = shape.outline(s, 4000)
                    length, height = extent(outline)
                    body["length_height"] = length / height
                    body["tips"] = tip_angles(outline)
                    body["outline"] = shape.outline(s, 400).tolist()
            finally:
                on_grid.close()
        finally:
            mean.close()
    return {
        "case": str(case_path),
        "level": level,
        "objective": case.objective.describe(),
        "grid": grid.tolist(),
        "cd_star": stars.tolist(),
        "middle_re": float(grid[middle]),
        "bodies": bodies,
    }


def shown(data: dict) -> dict[str, dict]:
    """The bodies drawn and tabled: the mean and minimax bodies, the middle-Re and the end optima."""
    grid = data["grid"]
    names = [
        f"optimum at Re {grid[0]:.3g}",
        f"optimum at Re {data['middle_re']:.3g}",
        f"optimum at Re {grid[-1]:.3g}",
    ]
    return {name: data["bodies"][name] for name in ["mean body", "minimax body", *names]}


def pictures(data: dict, out: Path, name: str) -> list[Path]:
    """C_D against Re, regret curves and outlines of the shown bodies (PNG)."""
    grid, bodies = np.array(data["grid"]), shown(data)
    paths = []
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.semilogx(grid, data["cd_star"], "k-", lw=3, alpha=0.25, label="each Re's own optimum C_D*")
    for k, (label, body) in enumerate(bodies.items()):
        top.semilogx(grid, body["cd"], marker="o", ms=3, color=f"C{k}", lw=1, label=label)
        bottom.semilogx(grid, np.array(body["cd"]) - data["cd_star"], marker="o", ms=3, color=f"C{k}")
    top.set_ylabel("C_D")
    bottom.set_ylabel("C_D − C_D*(Re)")
    bottom.set_xlabel("Re")
    for ax in (top, bottom):
        _re_axis(ax, grid)
    top.legend(fontsize=8)
    top.set_title(f"{name}: C_D over the range ({data['level']} mesh)")
    paths.append(_saved(fig, out / f"{name}-cd.png"))
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (label, body) in enumerate(bodies.items()):
        ax.semilogx(grid, 100 * np.array(body["regret"]), marker="o", ms=3, color=f"C{k}", label=label)
    _re_axis(ax, grid)
    ax.set_xlabel("Re")
    ax.set_ylabel("regret C_D / C_D* − 1 (%)")
    ax.legend(fontsize=8)
    ax.set_title(f"{name}: relative regret over the range ({data['level']} mesh)")
    paths.append(_saved(fig, out / f"{name}-regret.png"))
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (label, body) in enumerate(bodies.items()):
        points = np.array(body["outline"])
        points = np.vstack([points, points[:1]])
        ax.plot(points[:, 0], points[:, 1], color=f"C{k}", lw=1, label=label)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3)
    ax.set_title(f"{name}: outlines (flow from the left)")
    paths.append(_saved(fig, out / f"{name}-outlines.png"))
    return paths


def _re_axis(ax, grid) -> None:
    """An axis over Re: ticks at every second Re of the grid, no minor ticks, a light grid."""
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xticks(grid[::2], [f"{r:.3g}" for r in grid[::2]])
    ax.minorticks_off()


def _saved(fig, path: Path) -> Path:
    """`fig` written to `path` (PNG) and closed; returns the path."""
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def table(data: dict) -> str:
    """The Markdown table of the shown bodies."""
    lines = [
        "| body | mean J | worst regret | at Re | length/height | tips front / rear | FEM solves | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, body in shown(data).items():
        worst = int(np.argmax(body["regret"]))
        lines.append(
            f"| {label} | {body['mean']:.6f} | {100 * body['regret'][worst]:.3f} % | "
            f"{data['grid'][worst]:.3g} | "
            f"{body['length_height']:.2f} | {body['tips'][0]:.0f}° / {body['tips'][1]:.0f}° | "
            f"{body['solves']} | {body['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", type=Path, nargs="?", default=Path("cases/cylinder-re5-40-range.toml"))
    parser.add_argument("--level", default="coarse")
    parser.add_argument("--grid", type=int, default=9, help="Reynolds numbers of the grid (odd)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/range-study"), help="NAME-study.json")
    parser.add_argument("--images", type=Path, help="folder of the pictures (default: --out)")
    parser.add_argument("--replot", action="store_true", help="draw from OUT/NAME-study.json, no solves")
    args = parser.parse_args()
    name = args.case.stem
    record = args.out / f"{name}-study.json"
    if args.replot:
        data = json.loads(record.read_text())
    else:
        data = study(args.case, args.level, args.grid, args.workers)
        args.out.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(data))
    images = args.images or args.out
    images.mkdir(parents=True, exist_ok=True)
    pictures(data, images, name)
    print(f"{data['objective']}, {args.level} mesh, grid Re {', '.join(f'{r:.3g}' for r in data['grid'])}")
    print(table(data))


if __name__ == "__main__":
    main()
