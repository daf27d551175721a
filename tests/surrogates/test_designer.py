"""The designer network and its training through a physics with a known answer (no FEM).

The toy physics: J_c(s) = Re (1 + ½ (s − s*(c))ᵀ H (s − s*(c))), no constraints, with the optimum
s*(c) = (0.3 ln Re, area − 1, 0.5 t ln Re) smooth in c, so one Newton step lands on s*(c) exactly and the
objective's scale grows with Re as C_D's falls (the scale PG, DP and HIG must not depend on).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from surrogates.designer import DesignerEnsemble, predicted_gap
from surrogates.designer_training import DesignerTraining, LocalModels, steered_conditions, train_designer

H = np.diag([1.0, 2.0, 3.0])


def optimum(conditions: np.ndarray) -> np.ndarray:
    re, area, t = conditions.T
    return np.column_stack([0.3 * np.log(re), area - 1.0, 0.5 * t * np.log(re)])


def draw(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack(
        [np.exp(rng.uniform(0, np.log(40), n)), rng.uniform(0.9, 1.1, n), rng.uniform(0, 0.5, n)]
    )


class ToyPhysics:
    def answer(self, conditions, raw):
        return np.array(raw)

    def local(self, conditions, s, hessian):
        d = s - optimum(conditions)
        scale = conditions[:, 0]
        objective = scale * (1 + 0.5 * np.einsum("ni,ij,nj->n", d, H, d))
        residual = scale[:, None] * d @ H
        if not hessian:
            return LocalModels(s, objective, residual)
        hessians = scale[:, None, None] * H
        newton = optimum(conditions)
        gap = scale * 0.5 * np.einsum("ni,ij,nj->n", d, H, d) / objective
        return LocalModels(s, objective, residual, hessians, newton, gap)


@pytest.fixture(scope="module")
def seed():
    conditions = draw(np.random.default_rng(0), 6)
    return conditions, optimum(conditions)


def held_out_error(ensemble: DesignerEnsemble) -> float:
    conditions = draw(np.random.default_rng(1), 40)
    return float(np.max(np.abs(ensemble(conditions)[0] - optimum(conditions))))


def trained(method: str, seed, rounds: int = 4) -> tuple[DesignerEnsemble, object]:
    torch.manual_seed(0)
    ensemble = DesignerEnsemble(3, members=2, width=16, depth=2)
    rng = np.random.default_rng(2)
    settings = DesignerTraining(
        method, rounds=rounds, per_round=6, fit_iterations=60, dp_lr=3e-3, hig_steps=5
    )
    record = train_designer(ensemble, ToyPhysics(), *seed, lambda n: draw(rng, n), settings)
    return ensemble, record


@pytest.fixture(scope="module")
def seed_only(seed):
    return trained("supervised", seed)[0]


def test_pg_learns_the_optima_at_fresh_conditions_beyond_its_seed(seed, seed_only):
    pg, record = trained("pg", seed, rounds=3)
    assert record.solves == [6, 12, 18] and record.hessians == record.solves
    # Newton targets are the exact optima of the quadratic: 18 more points where the seed had 6
    assert held_out_error(pg) < 0.2 * held_out_error(seed_only)


def excess(ensemble: DesignerEnsemble) -> float:
    """Mean of (J − J*) / Re over 40 held-out conditions."""
    conditions = draw(np.random.default_rng(1), 40)
    d = ensemble(conditions)[0] - optimum(conditions)
    return float(np.mean(0.5 * np.einsum("ni,ij,nj->n", d, H, d)))


def test_hig_and_dp_lower_the_drag_of_fresh_answers_below_the_seeds(seed, seed_only):
    hig, _ = trained("hig", seed)
    dp, record = trained("dp", seed, rounds=6)
    assert record.hessians == [0] * 6 and record.rated == []
    # measured: seed 0.025, HIG 1.7e-4 (its Gauss-Newton steps on the exact Hessian), DP 0.013 (6 Adam steps)
    assert excess(hig) < 0.02 * excess(seed_only)
    assert excess(dp) < 0.7 * excess(seed_only)


def test_an_unknown_method_is_refused(seed):
    with pytest.raises(ValueError, match="unknown designer training method 'newton'"):
        trained("newton", seed)


def test_the_predicted_gap_is_the_quadratic_model_of_the_spread():
    spread = np.array([0.1, 0.0, 0.2])
    assert predicted_gap(spread, H, 2.0, 3.0) == pytest.approx(3.0 * 0.5 * (0.01 + 3 * 0.04) / 2.0)


def test_the_ensemble_round_trips_through_its_state_dicts(seed_only):
    ensemble = seed_only
    copy = DesignerEnsemble(3, members=2, width=16, depth=2, seed=5)
    copy.load_state_dicts(ensemble.state_dicts())
    conditions = draw(np.random.default_rng(3), 5)
    assert np.array_equal(copy(conditions)[0], ensemble(conditions)[0])


def test_a_steered_round_takes_the_drawn_conditions_where_the_members_disagree_most(seed_only):
    ensemble = seed_only
    drawn = draw(np.random.default_rng(4), 12)
    settings = DesignerTraining(method="pg", per_round=3, steer=4)
    chosen = steered_conditions(ensemble, lambda n: drawn[:n], settings)
    disagreement = np.sum(ensemble(drawn)[1] ** 2, axis=1)
    assert np.array_equal(chosen, drawn[np.argsort(disagreement)[::-1][:3]])
    assert np.min(np.sum(ensemble(chosen)[1] ** 2, axis=1)) > np.median(disagreement)
