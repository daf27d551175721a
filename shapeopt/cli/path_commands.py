"""`train-path`: the drag surrogate trained on the path of an atlas's optima, steered where its minimum is.

Its FEM labels are kept beside the output as they are made (`path_progress`): rerunning a stopped command
resumes it.
"""

from __future__ import annotations

import argparse

from shapeopt.cli.common import load_args, print_result, status_line
from shapeopt.errors import CaseError
from shapeopt.files import check_output_file


def train_path_command(args: argparse.Namespace) -> int:
    from shapeopt.app.atlas_starts import case_for
    from shapeopt.app.designer import read_atlas_optima
    from shapeopt.app.designer_physics import conditions_of
    from shapeopt.app.path_progress import progress_file
    from shapeopt.app.path_surrogate import Steering, train_on_atlas
    from shapeopt.fem import MPI
    from shapeopt.fem.problem import DragProblem
    from shapeopt.files import written_whole
    from surrogates.path_training import PathTraining

    case = load_args(args)
    check_output_file(args.out, "surrogate.pt", inputs=[args.case])
    atlas = read_atlas_optima(args.atlas)
    steering = Steering(args.method, args.rounds, args.per_round)
    training = PathTraining(order=args.order, steps=args.fit_steps, lbfgs=2 * args.fit_steps, seed=args.seed)

    def progress(done: int, surrogate, record) -> None:
        status_line(
            f"round {done}/{args.rounds}: the surrogate's minima at {args.per_round} fresh conditions "
            f"labelled; {record.solves[-1]} FEM solves and {record.hessians[-1]} Hessians so far"
        )

    with DragProblem(case_for(case, conditions_of(atlas.conditions)[0]), MPI.COMM_SELF) as problem:
        if atlas.optima.shape[1] != problem.size:
            raise CaseError(
                f"{args.atlas}: its optima have {atlas.optima.shape[1]} parameters, the case {problem.size}"
            )
        status_line(f"labelling the {len(atlas.optima)} optima of {args.atlas} (C_D, gradients, Hessians)")
        surrogate, meta = train_on_atlas(
            problem, atlas, training, steering, args.seed, progress, progress_file(args.out)
        )
    with written_whole(args.out) as partial:
        surrogate.save(partial)
    progress_file(args.out).unlink(missing_ok=True)
    summary = {key: meta[key] for key in ("method", "order", "rounds", "fem_solves", "hessians")}
    summary["out"] = str(args.out)
    text = (
        f"drag surrogate ({args.method}, order {args.order}) on the path of {len(atlas.optima)} optima of "
        f"{args.atlas}, {args.rounds} steered rounds: {meta['fem_solves']} FEM solves and {meta['hessians']} "
        f"Hessians in all (the atlas's included); wrote {args.out}"
    )
    print_result(args, summary, text)
    return 0
