"""The `design` command: the least-drag shape for one set of conditions from the designer network."""

from __future__ import annotations

import argparse

from shapeopt.cli.common import load_args, print_result, status_line
from shapeopt.errors import CaseError
from shapeopt.files import check_run_folder


def design_command(args: argparse.Namespace) -> int:
    from shapeopt.app.atlas_starts import Conditions
    from shapeopt.app.design_answers import design_case
    from shapeopt.app.optimizers import progress_line
    from shapeopt.fem import MPI

    comm = MPI.COMM_WORLD
    case = load_args(args)
    area = case.constraints.area_ratio if args.area_ratio is None else args.area_ratio
    thickness = case.constraints.min_thickness if args.min_thickness is None else args.min_thickness
    conditions = Conditions(args.re if args.re is not None else case.re, area, thickness)
    if args.gap_tolerance <= 0:
        raise CaseError(f"--gap-tolerance must be > 0, got {args.gap_tolerance:g}")
    check_run_folder(args.out, inputs=[args.case, args.model])

    def progress(step) -> None:
        if comm.rank == 0:
            status_line(progress_line("newton", step))

    summary = design_case(
        case, conditions, args.out, args.model, args.verify, args.gap_tolerance, progress, comm
    )
    print_result(args, summary, _design_text(summary, args.out), comm.rank)
    return 0 if summary.get("converged", True) else 6


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
