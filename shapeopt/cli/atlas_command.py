"""The `atlas` command: the least-drag body for every combination of Re, area ratio and minimum thickness."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from shapeopt.cli.common import load_args, print_result, status_line
from shapeopt.errors import CaseError
from shapeopt.files import check_output_folder


def number_list(what: str, low: float, low_allowed: bool) -> Callable[[str], tuple[float, ...]]:
    """An option type: comma-separated finite numbers above `low` (or from it, `low_allowed`), none twice;
    `what` names them in messages ("Reynolds numbers")."""
    bound = f"{'≥' if low_allowed else '>'} {low:g}"

    def parse(text: str) -> tuple[float, ...]:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got nothing")
        values: list[float] = []
        for item in text.split(","):
            try:
                value = float(item)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated {what}, got {item.strip()!r} in {text!r}"
                ) from None
            if not (math.isfinite(value) and (value > low or (low_allowed and value == low))):
                raise argparse.ArgumentTypeError(f"{what} must be finite and {bound}, got {item.strip()}")
            if value in values:
                raise argparse.ArgumentTypeError(f"{item.strip()} is listed twice in {text!r}")
            values.append(value)
        return tuple(values)

    return parse


def atlas_command(args: argparse.Namespace) -> int:
    from shapeopt.design.atlas import atlas_grid, check_atlas_folder, grid_problems, run_atlas
    from shapeopt.fem import MPI

    comm = MPI.COMM_WORLD
    base = load_args(args)
    grid = atlas_grid(
        args.re,
        args.area_ratio or (base.constraints.area_ratio,),
        args.min_thickness or (base.constraints.min_thickness,),
    )
    problems = grid_problems(base, grid)
    if problems:
        raise CaseError("; ".join(problems))
    check_output_folder(args.out, inputs=[args.case])
    check_atlas_folder(args.out, base, grid, args.cold)

    def progress(p) -> None:
        if comm.rank == 0:
            status_line(_progress_text(p))

    table = run_atlas(base, grid, args.out, args.cold, progress, comm)
    print_result(args, table | {"out": str(args.out)}, _atlas_text(table, args.out), comm.rank)
    totals = table["totals"]
    return 0 if totals["converged"] == totals["problems"] else 6


def _progress_text(p) -> str:
    """The status line of one problem (`AtlasProgress`)."""
    row = p.row
    where = (
        f"[{p.index}/{p.total}] Re {row['re']:g}, area ratio {row['area_ratio']:g}, "
        f"min thickness {row['min_thickness']:g}"
    )
    if p.skipped:
        return f"{where}: skipped, finished before in {p.folder} (C_D {row['cd']:.6f})"
    reference = f" (+{row['reference_solves']} reference)" if row["reference_solves"] else ""
    return (
        f"{where}: C_D {row['cd']:.6f} ({row['change']:+.1%} from the circle), "
        f"length/height {row['length_height']:.2f}, {row['fem_solves']} FEM solves{reference}, "
        f"{row['seconds']:.1f} s, KKT {row['kkt']:.1e}, from {row['warm_start']}"
        + ("" if row["converged"] else ", NOT converged")
    )


def _atlas_text(table: dict, out) -> str:
    """The table as text, its totals and the files written."""
    t = table["totals"]
    lines = [
        f"atlas of {table['case']} (level {table['level']}, {table['start']} start): {t['problems']} "
        f"problems, {t['converged']} converged",
        f"  {'Re':>6} {'area':>5} {'thick':>5} {'C_D':>10} {'circle':>10} {'change':>7} {'L/H':>5} "
        f"{'front':>5} {'rear':>5} {'KKT':>8} {'FEM':>4} {'ref':>3} {'s':>6}  start",
    ]
    for r in table["rows"]:
        lines.append(
            f"  {r['re']:6g} {r['area_ratio']:5g} {r['min_thickness']:5g} {r['cd']:10.6f} "
            f"{r['cd_circle']:10.6f} {r['change']:+7.1%} {r['length_height']:5.2f} {r['front_angle']:4.0f}° "
            f"{r['rear_angle']:4.0f}° {r['kkt']:8.1e} {r['fem_solves']:4d} {r['reference_solves']:3d} "
            f"{r['seconds']:6.1f}  {r['warm_start']}" + ("" if r["converged"] else "  NOT converged")
        )
    lines += [
        f"  total: {t['fem_solves']} FEM solves (+{t['reference_solves']} reference), "
        f"{t['seconds']:.1f} s (+{t['reference_seconds']:.1f} s), largest KKT residual {t['max_kkt']:.1e}",
        f"  wrote {out}/atlas.csv, atlas.json, cd.png, slenderness.png, outlines.png and "
        "problems/<conditions>/summary.json, outline.csv",
    ]
    return "\n".join(lines)
