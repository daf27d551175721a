"""HIG's and DP's settings for the designer, tuned on recorded local models (the same care as PG's).

Records two rounds of fresh conditions answered by the designer regressed on the seed atlas (FEM solve,
adjoint and exact Hessian at each answer, cached in `--cache`), then trains from the seed on the first
round's local models by each setting and scores it on the second round's: the mean over its conditions of
the quadratic model's gap at the trained answer (`score`), the gap each setting would leave if the
models were exact. PG (regression onto the first round's
Newton targets) is scored the same way. Prints one table.

    OMP_NUM_THREADS=1 .venv/bin/python bench/designer_tune.py --seed runs/atlas12 --cache runs/tune.npz
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from shapeopt.app.atlas_starts import Conditions, case_for
from shapeopt.app.designer import atlas_case, draw_conditions, read_atlas_optima
from shapeopt.app.designer_physics import FEMDesignPhysics
from shapeopt.cases import case_from_dict
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem
from surrogates.designer import DesignerEnsemble
from surrogates.designer_training import LocalModels, dp_step, hig_step

FIELDS = ("conditions", "s", "objective", "residual", "hessian", "newton", "model_gap", "tangent")


def record(seed_folder: Path, cache: Path, per_round: int) -> list[tuple[np.ndarray, LocalModels]]:
    """Two rounds of local models at the seed designer's answers (cached)."""
    if cache.exists():
        stored = np.load(cache)
        return [
            (stored[f"{k}_conditions"], LocalModels(*(stored[f"{k}_{f}"] for f in FIELDS[1:])))
            for k in range(2)
        ]
    seed = read_atlas_optima(seed_folder)
    base = case_from_dict(atlas_case(seed_folder))
    ensemble = DesignerEnsemble(seed.optima.shape[1])
    ensemble.set_normalisation(seed.conditions, seed.optima)
    ensemble.fit(seed.conditions, seed.optima)
    rounds, arrays = [], {}
    with DragProblem(case_for(base, Conditions(*seed.conditions[0])), MPI.COMM_SELF) as problem:
        physics = FEMDesignPhysics(problem)
        rng = np.random.default_rng(11)
        for k in range(2):
            conditions = draw_conditions(rng, per_round)
            s = physics.answer(conditions, ensemble(conditions)[0])
            local = physics.local(conditions, s, hessian=True)
            rounds.append((conditions, local))
            arrays |= {f"{k}_conditions": conditions} | {f"{k}_{f}": getattr(local, f) for f in FIELDS[1:]}
    np.savez(cache, **arrays)
    return rounds


def score(ensemble: DesignerEnsemble, conditions: np.ndarray, local: LocalModels) -> float:
    """Mean over the recorded conditions of (q(x) − q(x*)) / J: q the quadratic model r·d + ½ dᵀ(P H P)d
    about the recorded answer s (d = x − s), x the ensemble's answer (before projection: the model sees
    only its move along the constraints), x* the recorded Newton target."""

    def q(x: np.ndarray) -> np.ndarray:
        d = x - local.s
        return np.einsum("ni,ni->n", local.residual, d) + 0.5 * np.einsum("ni,nij,nj->n", d, local.hessian, d)

    return float(np.mean((q(ensemble(conditions)[0]) - q(local.newton)) / local.objective))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args()
    seed = read_atlas_optima(args.seed)
    (train_c, train), (check_c, check) = record(args.seed, args.cache, args.per_round)

    def fresh() -> DesignerEnsemble:
        torch.manual_seed(0)
        ensemble = DesignerEnsemble(seed.optima.shape[1])
        ensemble.set_normalisation(seed.conditions, seed.optima)
        ensemble.fit(seed.conditions, seed.optima)
        return ensemble

    base = fresh()
    rows = [("seed only", score(base, check_c, check))]
    pg = fresh()
    pg.fit(np.concatenate([seed.conditions, train_c]), np.concatenate([seed.optima, train.newton]))
    rows.append(("pg", score(pg, check_c, check)))
    for lr, tau, steps in itertools.product((0.02, 0.1, 0.5, 1.0), (1e-6, 1e-3), (5, 20, 50)):
        ensemble = fresh()
        for net in ensemble.nets:
            rate = lr
            for _ in range(steps):
                rate = hig_step(net, [(train_c, train)], seed.conditions, seed.optima, tau, rate)
        rows.append((f"hig lr {lr:g}, tau {tau:g}, {steps} steps", score(ensemble, check_c, check)))
    for lr in (1e-4, 1e-3, 3e-3, 1e-2):
        ensemble = fresh()
        for net in ensemble.nets:
            dp_step(net, torch.optim.Adam(net.parameters(), lr=lr), train_c, train)
        rows.append((f"dp lr {lr:g}, 1 step", score(ensemble, check_c, check)))
    print("| setting | quadratic-model gap on the second round |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:.2e} |")


if __name__ == "__main__":
    main()
