"""The drag surrogate's own minimum and its off-design drag, trained on the path of optima by each method.

At the 20 held-out conditions of `bench/designer.py` (seed 2026; their Newton optima C_D* cached in
`--truth`), the gap of the surrogate's own minimum (`surrogate_minimum`, no FEM solve) is
(C_D(s) − C_D*) / C_D*, one FEM solve each. Off design: the first 10 held-out optima, each at 3 other
Reynolds numbers drawn log-uniform in [1, 40] (seed 2027), the surrogate's C_D against the FEM's.
Surrogates (the network and loss of `surrogates.path_training`):
- `random-N`: Sobolev order 1 on N random admissible shapes (the datasets' draw) at Re log-uniform;
- `path-0/1/2`: order 0, 1, 2 on the optima of `--atlas` (Hessians at their own Re, gradients at the
  atlas's other Re: `path_data`);
- `sobolev`, `pg`, `dp`: from the optima of the smaller `--seed` atlas (`path_data`), then `--rounds`
  of `--per-round` fresh conditions labelled at the surrogate's minimum (`steer`).
FEM solves count the atlas's Newton solves, the labels' and the rounds'. Labels are cached in `--cache`.
`--model FILE` measures a surrogate file made by `train-path` instead.

    OMP_NUM_THREADS=1 .venv/bin/python bench/path_surrogate.py --atlas runs/atlas36 --seed runs/atlas12 \\
        --truth runs/designer-truth.json --cache runs/path-cache
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from shapeopt.app.atlas_starts import Conditions, case_for
from shapeopt.app.designer import atlas_case, draw_conditions, read_atlas_optima
from shapeopt.app.designer_physics import conditions_of
from shapeopt.app.path_surrogate import (
    Steering,
    label,
    path_data,
    path_surrogate,
    steer,
    surrogate_minimum,
)
from shapeopt.cases import case_from_dict
from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.design.surrogate_search import optimize_surrogate
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.designs import parameter_spec
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem
from surrogates import load
from surrogates.path_training import PathSamples, PathTraining, fit_path

HELD_OUT_SEED, OFF_DESIGN_SEED, RANDOM_SEED = 2026, 2027, 2028


def cached(path: Path, make) -> PathSamples:
    """The samples in `path` (npz), or `make()`'s, saved there."""
    if path.exists():
        with np.load(path) as f:
            return PathSamples(f["s"], f["re"], f["cd"], f["gradient"], f["hessian"])
    start = time.perf_counter()
    samples = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path, s=samples.s, re=samples.re, cd=samples.cd, gradient=samples.gradient, hessian=samples.hessian
    )
    print(f"  labelled {len(samples)} samples into {path} ({time.perf_counter() - start:.0f} s)", flush=True)
    return samples


def fem_drag(problem: DragProblem, s: np.ndarray, re: float) -> float:
    """C_D at s on the reference mesh; inf where it refuses the shape (its gap counts as a failure)."""
    try:
        return problem.evaluate(s, re=re).objective
    except REFUSED:
        return math.inf


def route_solves(base, surrogate, conditions: np.ndarray) -> list[int]:
    """FEM solves of the surrogate route (its search from the trained shapes, then Newton steps on the
    exact Hessian) to KKT ≤ 1e-5 at each condition (n, 3)."""
    settings = TrustRegionSettings(global_samples=0, kkt_tolerance=1e-5)
    known = np.array(surrogate.meta["trained_shapes"])
    counts = []
    for c in conditions_of(conditions):
        with DragProblem(case_for(base, c), MPI.COMM_SELF) as problem:
            J = ReducedFunctional(problem)
            counts.append(
                optimize_surrogate(J, surrogate, settings, known=known, report_initial=False).fem_solves
            )
    return counts


def random_shapes(problem: DragProblem, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n admissible shapes of the datasets' draw (n, m) and Re log-uniform in [1, 40] (n,)."""
    rng = np.random.default_rng(RANDOM_SEED)
    shapes = []
    while len(shapes) < n:
        s, ok = problem.space.draw(rng.random((4 * n, problem.size)))
        shapes.extend(s[ok])
    return np.array(shapes[:n]), np.exp(rng.uniform(0, math.log(40), n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atlas", type=Path, required=True)
    parser.add_argument("--seed", type=Path, required=True)
    parser.add_argument(
        "--truth", type=Path, required=True, help="held-out Newton optima (bench/designer.py)"
    )
    parser.add_argument("--cache", type=Path, required=True, help="folder of labelled samples (npz)")
    parser.add_argument(
        "--methods",
        default="random,path-0,path-1,path-2,sobolev,pg,hig,dp,sobolev@seed,pg@seed",
        help="random, path-ORDER, or a steering method (steered from --atlas, or @seed: from --seed)",
    )
    parser.add_argument("--random", type=int, default=100, help="random shapes of `random`")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument(
        "--route",
        action="store_true",
        help="count the surrogate route's FEM solves from each final surrogate",
    )
    parser.add_argument("--hig-steps", type=int, default=Steering.hig_steps, help="HIG steps per round")
    parser.add_argument("--model", type=Path, help="measure this surrogate file (`train-path`) instead")
    parser.add_argument("--every", type=int, default=1, help="measure after every this many rounds")
    parser.add_argument("--out", type=Path, help="JSON of the rows")
    args = parser.parse_args()
    full, small = read_atlas_optima(args.atlas), read_atlas_optima(args.seed)
    base = case_from_dict(atlas_case(args.atlas), str(args.atlas))
    truth = json.loads(args.truth.read_text())
    conditions = draw_conditions(np.random.default_rng(HELD_OUT_SEED), 20)
    if not np.allclose(conditions, np.array(truth["conditions"])):
        raise SystemExit(f"{args.truth} holds other held-out conditions")
    best = np.array(truth["objective"])
    optima = np.array(truth["s"])[:10]
    off_re = np.exp(np.random.default_rng(OFF_DESIGN_SEED).uniform(0, math.log(40), (10, 3)))
    rows: list[dict] = []
    with DragProblem(case_for(base, Conditions(*conditions[0])), MPI.COMM_SELF) as problem:
        state = problem.state()
        weights = np.ones_like(state)
        meta = {
            "spec": parameter_spec(problem.case).to_dict(),
            "mesh_sha256": problem.flow_mesh.sha256,
            "re_range": [1.0, 40.0],
        }

        def wrap(net, samples):
            return path_surrogate(net, samples, state, weights, meta)

        off_truth = cached(
            args.cache / "off-design.npz",
            lambda: label(problem, np.repeat(optima, 3, axis=0), off_re.ravel(), hessian=False),
        )
        sets = {
            "full": cached(
                args.cache / "path-full.npz", lambda: path_data(problem, full.conditions, full.optima)
            ),
            "seed": cached(
                args.cache / "path-seed.npz", lambda: path_data(problem, small.conditions, small.optima)
            ),
        }

        measuring = [0.0]  # seconds spent measuring, left out of the training's

        def measure(name, surrogate, solves, hessians, seconds, final=True):
            begun = time.perf_counter()
            seconds -= measuring[0]
            minima = surrogate_minimum(surrogate, problem.space, conditions)
            values = np.array(
                [fem_drag(problem, s, c.re) for c, s in zip(conditions_of(conditions), minima, strict=True)]
            )
            gap = (values - best) / best
            predicted = surrogate.drag(off_truth.s, off_truth.re)
            off = np.abs(predicted - off_truth.cd) / off_truth.cd
            rows.append(
                dict(
                    answer=name,
                    solves=solves,
                    hessians=hessians,
                    seconds=seconds,
                    median=float(np.median(gap)),
                    max=float(np.max(gap)),
                    off_median=float(np.median(off)),
                    off_max=float(np.max(off)),
                    gaps=gap.tolist(),
                )
            )
            measuring[0] += time.perf_counter() - begun
            if args.route and final:
                rows[-1]["route"] = float(np.median(route_solves(base, surrogate, conditions)))
            print(
                f"  {name}: {solves} solves, {hessians} Hessians, gap median {np.median(gap):.2e} max "
                f"{np.max(gap):.2e}; off-design median {np.median(off):.2e} max {np.max(off):.2e}; "
                f"route {rows[-1].get('route', '-')} solves",
                flush=True,
            )

        if args.model is not None:
            model = load(args.model)
            measure(str(args.model), model, model.meta["fem_solves"], model.meta["hessians"], 0.0)
        for method in [] if args.model is not None else args.methods.split(","):
            start, measuring[0] = time.perf_counter(), 0.0
            if method == "random":
                data = cached(
                    args.cache / f"random-{args.random}.npz",
                    lambda: label(problem, *random_shapes(problem, args.random), hessian=False),
                )
                net, _ = fit_path(data, PathTraining(order=1))
                measure(f"random-{args.random}", wrap(net, data), len(data), 0, time.perf_counter() - start)
                continue
            trained_by, _, on = method.partition("@")  # METHOD@seed: steered from the small atlas
            atlas, data = (small, sets["seed"]) if on == "seed" else (full, sets["full"])
            base_solves, base_hessians = atlas.fem_solves + len(data), len(atlas.optima)
            if trained_by.startswith("path-"):
                net, _ = fit_path(data, PathTraining(order=int(trained_by[-1])))
                measure(method, wrap(net, data), base_solves, base_hessians, time.perf_counter() - start)
                continue
            rng = np.random.default_rng(7)
            steering = Steering(trained_by, args.rounds, args.per_round, hig_steps=args.hig_steps)

            def curve(done, surrogate, record, method=method, start=start, base=(base_solves, base_hessians)):
                if done % args.every == 0:
                    measure(
                        f"{method} after {done} rounds",
                        surrogate,
                        base[0] + record.solves[-1],
                        base[1] + record.hessians[-1],
                        time.perf_counter() - start,
                        final=done == args.rounds,
                    )

            steer(
                problem,
                data,
                PathTraining(),
                steering,
                lambda k, n, rng=rng: draw_conditions(rng, n),
                wrap,
                curve,
            )
    print(
        "\n| surrogate | FEM solves | Hessians | s | gap median | gap max | off-design median "
        "| off-design max | route's FEM solves |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['answer']} | {r['solves']} | {r['hessians']} | {r['seconds']:.0f} | {r['median']:.1e} | "
            f"{r['max']:.1e} | {r['off_median']:.1e} | {r['off_max']:.1e} | {r.get('route', '')} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
