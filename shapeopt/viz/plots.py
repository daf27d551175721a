"""Matplotlib figures: shape outlines and optimization histories (PNG, rank 0 only)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from shapeopt.files import written_whole
from shapeopt.geometry.bodies import BodyShapes, join_outlines, split_outline
from shapeopt.geometry.shapes import RadialShape


def plot_shapes(
    shape: RadialShape | BodyShapes, shapes: list[tuple[str, np.ndarray]], path: Path, title: str = ""
) -> Path:
    """Outlines of several shapes `(label, s)` of one parametrisation, equal axes, flow from the left."""
    return plot_outlines([(label, shape.outline(s)) for label, s in shapes], path, title)


def plot_outlines(outlines: list[tuple[str, np.ndarray]], path: Path, title: str = "") -> Path:
    """Closed outlines `(label, points (n, 2))` in D, equal axes, flow from the left."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, points in outlines:
        closed = _closed(points)
        ax.plot(closed[:, 0], closed[:, 1], label=label)
    return _finish_outlines(fig, ax, path, title)


def plot_iterates(
    shape: RadialShape | BodyShapes, iterates: list[np.ndarray], path: Path, title: str = ""
) -> Path:
    """Every iterate's outline, light (first) to dark (last), the last one labelled."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    colours = plt.cm.viridis(np.linspace(0.9, 0.0, len(iterates)))
    for k, (s, colour) in enumerate(zip(iterates, colours, strict=True)):
        outline = shape.outline(s)
        last = k == len(iterates) - 1
        ax.plot(
            outline[:, 0],
            outline[:, 1],
            color=colour,
            lw=2 if last else 0.8,
            label=f"iterate {k} (last)" if last else ("iterate 0" if k == 0 else None),
        )
    return _finish_outlines(fig, ax, path, title)


def _closed(points: np.ndarray) -> np.ndarray:
    """Each polygon of an outline (several bodies: separated by rows of NaN) closed on its first point."""
    return join_outlines([np.vstack([part, part[:1]]) for part in split_outline(points)])


def _finish_outlines(fig, ax, path: Path, title: str) -> Path:
    _flow_arrow(ax)
    ax.set_aspect("equal")
    ax.set_xlabel("x / D")
    ax.set_ylabel("y / D")
    fig.legend(loc="lower center", ncol=3, fontsize=8, frameon=False)
    ax.set_title(title)
    return _save(fig, path, rect=(0, 0.1, 1, 1))


def _plain_ticks(axis, values: list[float]) -> None:
    """Ticks of a log `axis` at `values` only, written as plain numbers (5, not 5×10⁰)."""
    axis.set_major_locator(matplotlib.ticker.FixedLocator(sorted(set(values))))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(matplotlib.ticker.NullLocator())


def _flow_arrow(ax) -> None:
    """A small 'flow →' in the lower left corner of an outline plot."""
    ax.annotate(
        "flow",
        xy=(0.2, 0.05),
        xytext=(0.03, 0.05),
        xycoords="axes fraction",
        va="center",
        fontsize=9,
        arrowprops={"arrowstyle": "->"},
    )


def plot_history(history: list[dict], path: Path, title: str = "") -> Path:
    """C_D, constraint violation and KKT residual per iteration."""
    iterations = [h["iteration"] for h in history]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    top.plot(iterations, [h["cd"] for h in history], "o-")
    top.set_ylabel("C_D (FEM)")
    top.set_title(title)
    for key, label in (("violation", "constraint violation"), ("kkt_residual", "KKT residual")):
        values = np.maximum([h[key] for h in history], 1e-16)
        bottom.semilogy(iterations, values, "o-", label=label)
    bottom.set_xlabel("iteration")
    bottom.legend()
    return _save(fig, path)


def plot_against_re(
    rows: list[dict], panels: list[tuple[str, str, float]], path: Path, title: str = ""
) -> Path:
    """Quantities of an atlas against Re (log axis), one panel per `(key, label, factor)` (the row's value
    times factor), one line per (area ratio, minimum thickness); rows as in atlas.json."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.2 + 2.4 * len(panels)), sharex=True, squeeze=False)
    variants = sorted({(row["area_ratio"], row["min_thickness"]) for row in rows})
    ratios = sorted({ratio for ratio, _ in variants})
    thicknesses = sorted({thickness for _, thickness in variants})
    styles = ("-", "--", ":", "-.")
    for ax, (key, label, factor) in zip(axes[:, 0], panels, strict=True):
        for ratio, thickness in variants:  # colour: area ratio; line style: thickness
            chosen = sorted(
                (row["re"], row[key] * factor)
                for row in rows
                if (row["area_ratio"], row["min_thickness"]) == (ratio, thickness)
            )
            re, values = zip(*chosen, strict=True)
            ax.semilogx(
                re,
                values,
                marker="o",
                ms=4,
                color=f"C{ratios.index(ratio) % 10}",
                ls=styles[thicknesses.index(thickness) % len(styles)],
                label=f"area ratio {ratio:g}, min thickness {thickness:g} D",
            )
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[-1, 0].set_xlabel("Re")
    _plain_ticks(axes[-1, 0].xaxis, [row["re"] for row in rows])
    axes[0, 0].set_title(title)
    axes[0, 0].legend(fontsize=7)
    return _save(fig, path)


def plot_outlines_by_re(outlines: list[tuple[float, np.ndarray]], path: Path, title: str = "") -> Path:
    """Closed outlines `(Re, points (n, 2) in D)` overlaid, equal axes, coloured by Re (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    re = [value for value, _ in outlines]
    norm = matplotlib.colors.LogNorm(min(re), max(re) * (1 + 1e-9))  # one Re: a valid range still
    for value, points in outlines:
        closed = _closed(points)
        ax.plot(closed[:, 0], closed[:, 1], color=plt.cm.viridis(norm(value)), lw=0.9)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label="Re", shrink=0.8)
    _plain_ticks(bar.ax.yaxis, re)
    _flow_arrow(ax)
    ax.set_aspect("equal")
    ax.set_xlabel("x / D")
    ax.set_ylabel("y / D")
    ax.set_title(title)
    return _save(fig, path)


def plot_learning_curves(rows: list[dict], path: Path) -> Path:
    """Median validation C_D and gradient relative errors against epochs and against wall time, one line
    per method (PNG); each row's history holds points [seconds, epoch, C_D error, gradient error]."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharey="row")
    for row in rows:
        seconds, epochs, cd_errors, gradient_errors = zip(*row["history"], strict=True)
        epochs = [epoch + 1 for epoch in epochs]
        for top, errors in ((0, cd_errors), (1, gradient_errors)):
            axes[top, 0].loglog(epochs, errors, label=row["method"])
            axes[top, 1].loglog(seconds, errors, label=row["method"])
    for column, label in ((0, "epochs"), (1, "wall time (s)")):
        axes[1, column].set_xlabel(label)
    axes[0, 0].set_ylabel("validation C_D relative error (median)")
    axes[1, 0].set_ylabel("validation ∂C_D/∂s relative error (median)")
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 1].legend(fontsize=8)
    return _save(fig, path)


def plot_break_even(panels: list[tuple[str, list, list, dict]], path: Path, title: str = "") -> Path:
    """One panel per `(label, newton (n + 1,), surrogate (n + 1,), break_even)`: the two routes' cumulative
    costs against problems solved (0: the surrogate's setup alone), the break-even problem marked by a
    vertical line, or a note of the projection where the curves do not cross."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (label, newton, surrogate, even) in zip(axes[0], panels, strict=True):
        problems = np.arange(len(newton))
        ax.plot(problems, newton, marker="o", ms=3, label="Newton (adjoint + exact Hessian), warm")
        ax.plot(problems, surrogate, marker="s", ms=3, label="surrogate route (setup at 0)")
        if even["problems"] is not None:
            ax.axvline(even["problems"], color="k", ls="--", lw=1, label=f"break-even: {even['problems']}")
        else:
            projected = "never" if even["projected"] is None else f"projected at {even['projected']:.0f}"
            ax.text(
                0.03, 0.95, f"no break-even here; {projected}", transform=ax.transAxes, va="top", fontsize=8
            )
        ax.set_xlabel("problems solved")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _save(fig, path: Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=rect)
    try:
        with written_whole(path) as partial:  # a full disk leaves no truncated picture
            fig.savefig(partial, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
