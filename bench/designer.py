"""Learned answers against interpolation: the gap of each answer at held-out conditions, and its FEM cost.

At `--held-out` conditions drawn at random (`shapeopt.app.designer.draw_conditions`, seed 2026: Re
log-uniform in [1, 40], area ratio uniform in [0.9, 1.1], thickness 0 for half, uniform in [0, 0.5] D for
the rest), the gap of an answer s is (J(s) − J*) / J*, J* the FEM Newton optimum's (KKT ≤ 1e-5, started
from the RBF answer; cached in `--truth`). Answers, none of which spends an FEM solve on the condition:
- `nearest`: the nearest optimum of the atlas `--atlas`, dilated and projected as the atlas warm-starts;
- `rbf`: a thin-plate-spline RBF (scipy) through the atlas's optima in the atlas's coordinates of
  conditions (ln Re / ln 2, area ratio / 0.1, thickness), projected exactly;
- `rbf-seed`, `supervised-seed`: the same RBF, and the designer regressed, on the smaller atlas `--seed`;
- `supervised`: the designer regressed onto the optima of `--atlas`;
- `pg`, `dp`, `hig`: the designer trained from `--seed` through the solver (`--rounds` of `--per-round`
  fresh conditions), its gap measured after every `--every` rounds (the learning curve); `pg-steered`,
  `hig-steered`: each round's conditions picked where the members disagree most (of 8× as many drawn);
- `rbf-pg`, `rbf-pg-steered`: the RBF through the seed's optima and PG's Newton targets (PG's data).
Every answer is projected exactly onto its constraints. Prints one table: FEM solves and Hessians spent
to build the answer, median and maximum gap, the predicted gap's coverage (learned answers with Hessians),
and with `--newton` the median FEM solves of Newton from the answer to KKT ≤ 1e-5.

    OMP_NUM_THREADS=1 .venv/bin/python bench/designer.py --atlas runs/atlas36 --seed runs/atlas12 \\
        --truth runs/designer-truth.json --methods supervised,pg,hig,dp --newton
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.interpolate import RBFInterpolator

from shapeopt.app.atlas_starts import Conditions, case_for, known_optima
from shapeopt.app.designer import AtlasOptima, DesignerModel, atlas_case, draw_conditions, read_atlas_optima
from shapeopt.app.designer_physics import FEMDesignPhysics, conditions_of
from shapeopt.cases import case_from_dict
from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.newton import optimize_newton
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem
from surrogates.designer_training import DesignerTraining

HELD_OUT_SEED = 2026
STEER = 8  # `METHOD-steered`: each round picks its conditions from 8 times as many drawn


def coordinates(conditions: np.ndarray) -> np.ndarray:
    """(n, 3) the atlas's scaled coordinates of conditions (n, 3)."""
    return np.array([c.coordinates() for c in conditions_of(conditions)])


def rbf_answers(physics: FEMDesignPhysics, data: AtlasOptima, conditions: np.ndarray) -> np.ndarray:
    """Thin-plate RBF through `data` in the atlas's coordinates, projected exactly: (n, m)."""
    rbf = RBFInterpolator(coordinates(data.conditions), data.optima, kernel="thin_plate_spline")
    return physics.answer(conditions, rbf(coordinates(conditions)))


def nearest_answers(physics: FEMDesignPhysics, data: AtlasOptima, conditions: np.ndarray) -> np.ndarray:
    """The nearest optimum of `data` dilated and projected as the atlas's warm start: (n, m)."""
    found = {c.name: (c, s) for c, s in zip(conditions_of(data.conditions), data.optima, strict=True)}
    answers = []
    for c in conditions_of(conditions):
        known = known_optima(physics.space(c), c, found)
        answers.append(known[0] if known is not None else np.zeros(len(data.optima[0])))
    return np.array(answers)


def truth(base, physics: FEMDesignPhysics, conditions: np.ndarray, starts: np.ndarray, path: Path) -> dict:
    """Newton optima (J*, s*, solves) at the held-out conditions, started from `starts`; cached in `path`."""
    key = np.round(conditions, 12).tolist()
    if path.exists():
        cached = json.loads(path.read_text())
        if cached["conditions"] == key:
            return cached
    optima = {"conditions": key, "objective": [], "s": [], "fem_solves": [], "kkt": []}
    for c, start in zip(conditions_of(conditions), starts, strict=True):
        with DragProblem(case_for(base, c), MPI.COMM_SELF) as problem:
            result = optimize_newton(ReducedFunctional(problem), start)
        optima["objective"].append(result.final.objective_value)
        optima["s"].append(result.final.s)
        optima["fem_solves"].append(result.fem_solves)
        optima["kkt"].append(result.history[-1].kkt_residual)
        print(
            f"  truth {c.text()}: J* {result.final.objective_value:.9f}, {result.fem_solves} solves",
            flush=True,
        )
    path.write_text(json.dumps(optima))
    return optima


def gaps(
    physics: FEMDesignPhysics, conditions: np.ndarray, shapes: np.ndarray, best: np.ndarray
) -> np.ndarray:
    """(J(s) − J*) / J* of each answer (n,): one FEM solve each."""
    values = [
        physics.problem.evaluate(s, re=c.re).objective
        for c, s in zip(conditions_of(conditions), shapes, strict=True)
    ]
    return (np.array(values) - best) / best


def newton_solves(base, conditions: np.ndarray, shapes: np.ndarray) -> list[int]:
    """FEM solves of the Newton route from each answer to KKT ≤ 1e-5."""
    counts = []
    for c, s in zip(conditions_of(conditions), shapes, strict=True):
        with DragProblem(case_for(base, c), MPI.COMM_SELF) as problem:
            counts.append(optimize_newton(ReducedFunctional(problem), s).fem_solves)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--atlas", type=Path, required=True, help="the full atlas (interpolation, supervised)"
    )
    parser.add_argument(
        "--seed", type=Path, required=True, help="the small atlas the trained designers start from"
    )
    parser.add_argument(
        "--truth", type=Path, required=True, help="cache of the held-out Newton optima (JSON)"
    )
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--methods", default="supervised,pg,hig,dp")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument(
        "--every", type=int, default=2, help="measure the learning curve every this many rounds"
    )
    parser.add_argument("--hig-tau", type=float, default=DesignerTraining.hig_tau, help="HIG's truncation")
    parser.add_argument(
        "--hig-steps", type=int, default=DesignerTraining.hig_steps, help="HIG steps per round"
    )
    parser.add_argument("--newton", action="store_true", help="count Newton's solves from the best answers")
    parser.add_argument("--save", type=Path, help="folder to save each trained designer in (METHOD.pt)")
    args = parser.parse_args()
    full, seed = read_atlas_optima(args.atlas), read_atlas_optima(args.seed)
    base = case_from_dict(atlas_case(args.atlas), str(args.atlas))
    conditions = draw_conditions(np.random.default_rng(HELD_OUT_SEED), args.held_out)
    with DragProblem(case_for(base, Conditions(*conditions[0])), MPI.COMM_SELF) as problem:
        physics = FEMDesignPhysics(problem)
        best_known = truth(base, physics, conditions, rbf_answers(physics, full, conditions), args.truth)
        best = np.array(best_known["objective"])
        rows: list[dict] = []
        answers: dict[str, np.ndarray] = {}

        def measure(name, shapes, solves, hessians, seconds, predicted=None):
            g = gaps(physics, conditions, shapes, best)
            covered = None if predicted is None or np.isnan(predicted).any() else int(np.sum(predicted >= g))
            rows.append(
                dict(
                    answer=name,
                    solves=solves,
                    hessians=hessians,
                    seconds=seconds,
                    median=float(np.median(g)),
                    max=float(np.max(g)),
                    covered=covered,
                    gaps=g.tolist(),
                )
            )
            answers[name] = shapes
            print(
                f"  {name}: {solves} solves, median gap {np.median(g):.2e}, max {np.max(g):.2e}", flush=True
            )

        measure("nearest", nearest_answers(physics, full, conditions), full.fem_solves, 0, 0.0)
        measure("rbf", rbf_answers(physics, full, conditions), full.fem_solves, 0, 0.0)
        measure("rbf-seed", rbf_answers(physics, seed, conditions), seed.fem_solves, 0, 0.0)
        for method in args.methods.split(","):
            start = time.perf_counter()
            data = full if method == "supervised" else seed
            rounds = 0 if method == "supervised" else args.rounds
            trained_by, _, steered = method.partition("-")
            steer = STEER if steered == "steered" else 1
            settings = DesignerTraining(
                trained_by, rounds, args.per_round, steer, hig_tau=args.hig_tau, hig_steps=args.hig_steps
            )

            def curve(done, record, ensemble, method=method, start=start):
                if done % args.every == 0 and done < args.rounds:
                    shapes = physics.answer(conditions, ensemble(conditions)[0])
                    measure(
                        f"{method} after {done} rounds",
                        shapes,
                        seed.fem_solves + record.solves[-1],
                        record.hessians[-1],
                        time.perf_counter() - start,
                    )

            model, record = DesignerModel.train(
                problem, data, settings, np.random.default_rng(7), progress=curve
            )
            shapes, predicted = model.answer(physics, conditions)
            name = method if method != "supervised" else "supervised"
            measure(
                name,
                shapes,
                model.meta["fem_solves"],
                model.meta["hessians"],
                time.perf_counter() - start,
                predicted,
            )
            if trained_by == "pg":
                targets = AtlasOptima(np.concatenate(record.conditions), np.concatenate(record.targets), 0)
                measure(
                    f"rbf-{method}",
                    rbf_answers(physics, targets, conditions),
                    model.meta["fem_solves"],
                    model.meta["hessians"],
                    0.0,
                )
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                model.save(args.save / f"{method}.pt")
        if "supervised" in args.methods:
            start = time.perf_counter()
            settings = DesignerTraining(method="supervised", rounds=0)
            model, _ = DesignerModel.train(problem, seed, settings, np.random.default_rng(7))
            shapes, _ = model.answer(physics, conditions)
            measure("supervised-seed", shapes, seed.fem_solves, 0, time.perf_counter() - start)
    if args.newton:
        for row in rows:
            if row["answer"] in ("nearest", "rbf", "pg", "hig"):
                row["newton"] = float(np.median(newton_solves(base, conditions, answers[row["answer"]])))
    print(
        f"\n{args.held_out} held-out conditions (seed {HELD_OUT_SEED}), level {base.level}; "
        f"truth: Newton from the RBF answer, median {np.median(best_known['fem_solves']):g} solves, "
        f"max KKT {max(best_known['kkt']):.1e}\n"
    )
    print("| answer | FEM solves | Hessians | seconds | median gap | max gap | prediction covers | Newton |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        covered = "" if row["covered"] is None else f"{row['covered']}/{args.held_out}"
        newton = f"{row['newton']:g}" if "newton" in row else ""
        print(
            f"| {row['answer']} | {row['solves']} | {row['hessians']} | {row['seconds']:.0f} "
            f"| {row['median']:.1e} | {row['max']:.1e} | {covered} | {newton} |"
        )
    (args.truth.parent / "designer-rows.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
