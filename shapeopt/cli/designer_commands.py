"""The designer's commands: `design` (least-drag shapes for conditions, no FEM) and `train-designer`."""

from __future__ import annotations

import argparse
from pathlib import Path

from shapeopt.cases import Case
from shapeopt.cli.common import load_args, print_result, status_line
from shapeopt.errors import CaseError
from shapeopt.files import check_output_file, check_output_folder, check_run_folder


def design_command(args: argparse.Namespace) -> int:
    from shapeopt.app.atlas_starts import atlas_grid

    case = load_args(args)
    grid = atlas_grid(
        args.re or (case.re,),
        args.area_ratio or (case.constraints.area_ratio,),
        args.min_thickness or (case.constraints.min_thickness,),
    )
    return answer_conditions(
        args, case, grid, args.model, args.verify, args.gap_tolerance, args.verify_sample
    )


def answer_conditions(
    args: argparse.Namespace,
    case: Case,
    grid: list,
    model: Path | None,
    verify: bool = False,
    tolerance: float = 1e-4,
    sample: int | None = None,
) -> int:
    """The designer's answers for every conditions of `grid` (`Conditions`) into `args.out`
    (`design_conditions`), as `design` and `atlas --designer` give them: the output and the options
    checked first, a progress line per condition for several, the table (or the one answer) printed.
    `model`: the designer file, None for the shipped one; `verify`, `tolerance`: `design --verify
    --gap-tolerance`; `sample`: `--verify-sample K`. Returns the exit code (6 if a Newton run did not
    converge)."""
    from shapeopt.app.design_answers import design_conditions
    from shapeopt.fem import MPI

    comm = MPI.COMM_WORLD
    if not tolerance >= 0:
        raise CaseError(f"--gap-tolerance must be ≥ 0, got {tolerance:g}")
    if len(grid) == 1:
        check_run_folder(args.out, inputs=[args.case, model])
    else:
        check_output_folder(args.out, inputs=[args.case, model])

    def progress(line: str) -> None:
        if comm.rank == 0 and len(grid) > 1:
            status_line(line)

    if sample is not None and (verify or sample > len(grid)):
        raise CaseError(
            f"--verify-sample {sample}: at most the {len(grid)} conditions given, and not with --verify"
        )
    summary = design_conditions(case, grid, args.out, model, verify, tolerance, progress, comm, sample or 0)
    rows = summary.get("rows", [summary])
    text = _design_text(summary, args.out) if len(grid) == 1 else _table_text(rows, args.out)
    print_result(args, summary, text, comm.rank)
    return 0 if all(row.get("converged", True) for row in rows) else 6


def _table_text(rows: list[dict], out) -> str:
    import numpy as np

    lines = [
        f"designer ({rows[0]['method']}): {len(rows)} conditions",
        "     Re  area  thick   predicted gap   C_D answer   C_D Newton    gap      FEM solves",
    ]
    for row in rows:
        c, predicted = row["conditions"], row["predicted_gap"]
        cells = [f"{c['re']:7.3g} {c['area_ratio']:5.3g} {c['min_thickness']:6.3g}"]
        cells.append(f"{'none' if predicted is None else f'{predicted:.1e}':>15}")
        if row.get("verified") == "newton":
            cells.append(
                f"{row['cd_answer']:12.6f} {row['cd']:12.6f} {row['gap']:9.1e} {row['fem_solves']:>10}"
            )
        elif row.get("verified") == "solve":
            cells.append(f"{row['cd']:12.6f} {'':>12} {'':>9} {row['fem_solves']:>10}")
        lines.append("  ".join(cells))
    checked = [row for row in rows if row.get("verified") == "newton"]
    if checked:
        gaps = sorted(row["gap"] for row in checked)
        covered = sum(
            row["predicted_gap"] is not None and row["predicted_gap"] >= row["gap"] for row in checked
        )
        lines.append(
            f"  Newton from {len(checked)} answer{'s' * (len(checked) != 1)}: "
            f"gap median {np.median(gaps):.1e}, max {gaps[-1]:.1e}; "
            f"the predicted gap covers {covered} of {len(checked)}; "
            f"{sum(row['fem_solves'] for row in checked)} FEM solves"
        )
    lines.append(f"  wrote {out}/design.json and a folder per condition")
    return "\n".join(lines)


def _design_text(summary: dict, out) -> str:
    c = summary["conditions"]
    predicted = summary["predicted_gap"]
    gap = "none (no local models)" if predicted is None else f"{predicted:.1e}"
    lines = [
        f"designer ({summary['method']}) for Re {c['re']:g}, area ratio {c['area_ratio']:g}, "
        f"min thickness {c['min_thickness']:g}: predicted gap "
        f"{gap}, {summary['answer_seconds']:.2f} s",
    ]
    if summary.get("verified") == "solve":
        lines.append(f"  FEM C_D {summary['cd']:.6f}, KKT residual {summary['kkt']:.1e} (1 FEM solve)")
    elif summary.get("verified") == "newton":
        lines.append(
            f"  Newton from the answer: C_D {summary['cd_answer']:.6f} → {summary['cd']:.6f} "
            f"(gap {summary['gap']:.1e}), KKT {summary['kkt']:.1e}, {summary['fem_solves']} FEM solves"
        )
    lines.append(f"  wrote {out}/")
    return "\n".join(lines)


def train_designer_command(args: argparse.Namespace) -> int:
    import numpy as np

    from shapeopt.app.atlas_starts import Conditions, case_for
    from shapeopt.app.designer import DesignerModel, read_atlas_optima
    from shapeopt.fem import MPI
    from shapeopt.fem.problem import DragProblem
    from shapeopt.files import written_whole
    from surrogates.designer_training import DesignerTraining

    case = load_args(args)
    check_output_file(args.out, "designer.pt", inputs=[args.case])
    seed = read_atlas_optima(args.atlas)
    rounds = 0 if args.method == "supervised" else args.rounds
    settings = DesignerTraining(args.method, rounds=rounds, per_round=args.per_round, steer=args.steer)

    def progress(done: int, record, ensemble) -> None:
        status_line(
            f"round {done}/{rounds}: {record.solves[-1]} FEM solves, {record.hessians[-1]} Hessians, "
            f"mean |stationarity residual| / J of the round's answers {record.mean_residual[-1]:.1e}"
        )

    with DragProblem(case_for(case, Conditions(*seed.conditions[0])), MPI.COMM_SELF) as problem:
        if seed.optima.shape[1] != problem.size:
            raise CaseError(
                f"{args.atlas}: its optima have {seed.optima.shape[1]} parameters, the case {problem.size}"
            )
        model, record = DesignerModel.train(
            problem, seed, settings, np.random.default_rng(args.seed), args.members, progress
        )
    with written_whole(args.out) as partial:
        model.save(partial)
    summary = {
        "out": str(args.out),
        "method": args.method,
        "fem_solves": model.meta["fem_solves"],
        "hessians": model.meta["hessians"],
        "gap_factor": model.meta["gap_factor"],
    }
    fresh = record.solves[-1] if record.solves else 0
    text = (
        f"designer ({args.method}) from {len(seed.optima)} optima of {args.atlas} and {fresh} fresh solves: "
        f"{summary['fem_solves']} FEM solves and {summary['hessians']} Hessians in all; wrote {args.out}"
    )
    print_result(args, summary, text)
    return 0
