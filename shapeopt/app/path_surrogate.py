"""The drag surrogate on the path of optima: its FEM labels, its own minimum, and its training rounds.

- `label` solves at shapes (one FEM solve and adjoint each, and the exact Hessian where asked):
  `PathSamples` of C_D, dC_D/ds and ∇²C_D.
- `path_data` labels an atlas's optima at their own Reynolds number (with Hessians) and at the atlas's
  other Reynolds numbers (gradients): the path of optima, and the off-design drag of optimal bodies.
- `surrogate_minimum` is the surrogate's own answer for a condition, with no FEM solve: the route's
  search (`search_surrogate`: the mirror-averaged surrogate, SLSQP multistart under the condition's exact
  constraints) started from the shapes the surrogate was trained on.
- `steer` spends rounds of FEM work where the surrogate puts the optimum: at fresh conditions it labels
  the surrogate's minimum and retrains (`sobolev`; `hig` by half-inverse steps); `pg` also adds the
  second-order model's gradient at the constrained Newton step from there (the solver's local inverse);
  `dp` labels C_D and the gradient only, retrains, and takes Adam steps on the FEM drag at the minima,
  differentiated through the surrogate's minimum (`dp_gradient`).
- `path_surrogate` wraps a trained network as a `Surrogate` (no POD modes: it predicts C_D only, its
  state is zero); `train_on_atlas` is `train-path`: labels, steering, the surrogate and its record,
  resumable from its kept labels (`path_progress`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from shapeopt.app.designer import RE_RANGE, AtlasOptima, draw_conditions
from shapeopt.app.designer_physics import conditions_of, newton_target, space_for
from shapeopt.app.path_progress import PathProgress, RoundLabels, identity, read_progress, write_progress
from shapeopt.design.functional import REFUSED
from shapeopt.design.surrogate_search import MirroredSurrogate, search_surrogate
from shapeopt.design.trust_region import TrustRegionSettings
from shapeopt.designs import parameter_spec
from shapeopt.fem.problem import DragProblem
from shapeopt.space import DesignSpace
from surrogates.artifact import Surrogate
from surrogates.network import DragNet
from surrogates.path_training import (
    PathSamples,
    PathTraining,
    dp_gradient,
    fit_path,
    hig_fit,
    path_loss,
    tensors,
)
from surrogates.pod import POD

STEER_METHODS = ("sobolev", "pg", "hig", "dp")
SEARCH = TrustRegionSettings(global_samples=0, starts=8)  # multistart from the trained shapes only


def label(problem: DragProblem, s: np.ndarray, re: np.ndarray, hessian: bool) -> PathSamples:
    """C_D, gradient and (with `hessian`) exact Hessian at shapes s (n, m) and Reynolds numbers re (n,),
    on the reference mesh; shapes it refuses (the map cannot follow them, or no solve converges) are
    left out (`PathSamples.source` says which rows remain)."""
    m = problem.size
    rows, cd, gradients, hessians = [], [], [], []
    for row, (shape, r) in enumerate(zip(s, re, strict=True)):
        try:
            evaluation = problem.evaluate(shape, gradient=True, re=float(r), hessian=hessian)
        except REFUSED:
            continue
        rows.append(row)
        cd.append(evaluation.objective)
        gradients.append(evaluation.gradient)
        hessians.append(evaluation.hessian if hessian else np.full((m, m), np.nan))
    if not rows:
        return PathSamples.empty(m)
    return PathSamples(
        np.array(s)[rows],
        np.array(re, dtype=float)[rows],
        np.array(cd),
        np.array(gradients),
        np.array(hessians),
        np.array(rows),
    )


def path_data(
    problem: DragProblem, conditions: np.ndarray, optima: np.ndarray, off_design: bool = True
) -> PathSamples:
    """An atlas's optima (n, m) labelled at their conditions' (n, 3) Reynolds numbers with Hessians, and
    (with `off_design`) at each other Reynolds number of the atlas with gradients."""
    res = np.array(conditions)[:, 0]
    samples = label(problem, optima, res, hessian=True)
    if off_design:
        others = [(s, r) for s, own in zip(optima, res, strict=True) for r in np.unique(res) if r != own]
        if others:
            s, r = map(np.array, zip(*others, strict=True))
            samples = samples.joined(label(problem, s, r, hessian=False))
    return samples


def surrogate_minimum(surrogate: Surrogate, reference: DesignSpace, conditions: np.ndarray) -> np.ndarray:
    """The surrogate's minimum (n, m) under each condition's (n, 3) constraints, searched from the circle
    and the shapes it was trained on (its `trained_shapes`) projected onto them (`SEARCH`): the best of
    the multistart's optima whose outline is a simple curve."""
    known = np.array(surrogate.meta["trained_shapes"], dtype=float)
    answers = []
    for c in conditions_of(conditions):
        space = space_for(reference, c)
        J = SimpleNamespace(space=space, size=space.size)
        mirrored = MirroredSurrogate(surrogate, space.shape.mirror(), c.re)
        candidates, _ = search_surrogate(J, mirrored, SEARCH, known)
        answers.append(next((s for s in candidates if space.simple(s)), candidates[0]))
    return np.array(answers)


def path_surrogate(
    net: DragNet, samples: PathSamples, mean_state: np.ndarray, weights: np.ndarray, meta: dict[str, Any]
) -> Surrogate:
    """A `Surrogate` of a drag-only network trained on `samples`: no POD modes, the state w̄ =
    `mean_state` (N,; `train_on_atlas` gives zeros), inner-product `weights` (N,), and `meta` with the
    distinct shapes it was trained on (`trained_shapes`, where its search starts: `surrogate_minimum`,
    `SurrogateRoute`)."""
    n = len(mean_state)
    pod = POD(mean_state, np.zeros((n, 0)), weights, np.zeros(0), 1.0)
    return Surrogate(net, pod, meta | {"trained_shapes": np.unique(samples.s, axis=0).tolist()})


@dataclass(frozen=True)
class Steering:
    """Rounds of `per_round` fresh conditions labelled at the surrogate's minimum, trained by `method`
    (`STEER_METHODS`): `sobolev` and `pg` retrain by Adam, `hig` takes `hig_steps` half-inverse steps
    (`hig_fit`), `dp` takes `dp_steps` Adam steps of rate `dp_lr` per round."""

    method: str = "sobolev"
    rounds: int = 4
    per_round: int = 10
    dp_steps: int = 20
    dp_lr: float = 1e-4
    hig_steps: int = 100


@dataclass
class SteerRecord:
    """FEM solves and Hessians of the labels after each round (from 0), and the samples trained on at the
    end."""

    solves: list[int]
    hessians: list[int]
    samples: PathSamples


def steer(
    problem: DragProblem,
    samples: PathSamples,
    training: PathTraining,
    steering: Steering,
    draw: Callable[[int, int], np.ndarray],
    wrap: Callable[[DragNet, PathSamples], Surrogate],
    progress: Callable[[int, Surrogate, SteerRecord], None] | None = None,
    done: Sequence[RoundLabels] = (),
    keep: Callable[[RoundLabels], None] | None = None,
) -> tuple[Surrogate, SteerRecord]:
    """Train on `samples`, then `steering.rounds` rounds at conditions `draw(round, n)` (n, 3): label the
    surrogate's minimum there (`label`, with Hessians but for dp) and retrain, or for dp step along
    `dp_gradient`. The rounds `done` before are replayed from their labels (no FEM solve); each new
    round's labels go to `keep`. `wrap(net, samples)` makes a network trained on `samples` a
    `Surrogate`; `progress(round, surrogate, record so far)` after each."""
    net, _ = fit_path(samples, training)
    reference = problem.space
    solves, hessians = [0], [0]
    for k in range(1, steering.rounds + 1):
        if k <= len(done):
            labelled = done[k - 1]
        else:
            conditions = draw(k, steering.per_round)
            minima = surrogate_minimum(wrap(net, samples), reference, conditions)
            before = problem.fem_solves, problem.hessians
            fresh = label(problem, minima, conditions[:, 0], hessian=steering.method != "dp")
            cost = problem.fem_solves - before[0], problem.hessians - before[1]
            labelled = RoundLabels(conditions[fresh.source], fresh, *cost)
            if keep is not None:
                keep(labelled)
        if len(labelled.labels):  # else every minimum was refused: nothing to learn this round
            net, samples = _learn(net, samples, labelled, reference, training, steering)
        solves.append(solves[-1] + labelled.solves)
        hessians.append(hessians[-1] + labelled.hessians)
        if progress is not None:
            progress(k, wrap(net, samples), SteerRecord(solves, hessians, samples))
    return wrap(net, samples), SteerRecord(solves, hessians, samples)


def _learn(
    net: DragNet,
    samples: PathSamples,
    labelled: RoundLabels,
    reference: DesignSpace,
    training: PathTraining,
    steering: Steering,
) -> tuple[DragNet, PathSamples]:
    """One round's update from its labels at the surrogate's minima: the network and the samples it has
    been trained on (`steer`)."""
    fresh, conditions = labelled.labels, labelled.conditions
    samples = samples.joined(fresh)
    if steering.method == "dp":
        net, _ = fit_path(samples, training, net)
        _dp_steps(net, samples, fresh, conditions, reference, training, steering)
        return net, samples
    if steering.method == "hig":
        return hig_fit(samples, training, net, steering.hig_steps), samples
    if steering.method == "pg":
        targets = [
            newton_target(space_for(reference, c), s, g, h)
            for c, s, g, h in zip(
                conditions_of(conditions), fresh.s, fresh.gradient, fresh.hessian, strict=True
            )
        ]
        samples = samples.joined(fresh.newton_targets(np.array(targets)))
    return fit_path(samples, training, net)[0], samples


def _dp_steps(
    net: DragNet,
    samples: PathSamples,
    fresh: PathSamples,
    conditions: np.ndarray,
    reference: DesignSpace,
    training: PathTraining,
    steering: Steering,
) -> None:
    """Adam steps on the Sobolev loss of `samples` plus the mean of C_FEM(s*(θ)) / C_FEM over the round's
    minima `fresh` (n) at `conditions` (n, 3), differentiated through the surrogate's minimum
    (`dp_gradient`, the FEM gradient held at s*)."""
    tangents = np.array(
        [
            space_for(reference, c).stationarity(s, g)[1]
            for c, s, g in zip(conditions_of(conditions), fresh.s, fresh.gradient, strict=True)
        ]
    )
    relative = fresh.gradient / fresh.cd[:, None] / len(fresh)
    data = tensors(samples)
    optimiser = torch.optim.Adam(net.parameters(), lr=steering.dp_lr)
    for _ in range(steering.dp_steps):
        optimiser.zero_grad()
        path_loss(net, data, training).backward()
        for parameter, gradient in zip(
            net.parameters(), dp_gradient(net, fresh.s, fresh.re, tangents, relative), strict=True
        ):
            parameter.grad += gradient
        optimiser.step()


def train_on_atlas(
    problem: DragProblem,
    atlas: AtlasOptima,
    training: PathTraining,
    steering: Steering,
    seed: int,
    progress: Callable[[int, Surrogate, SteerRecord], None] | None = None,
    kept: Path | None = None,
) -> tuple[Surrogate, dict[str, Any]]:
    """The drag surrogate of `problem`'s case on the path of the atlas's optima (`path_data`), steered by
    `steering` at conditions drawn by `draw_conditions` (round k from the generator of [seed, k]); with
    its record: the FEM solves and Hessians of the atlas and of the labels. With `kept`, the labels are
    kept there as they are made and read back by a rerun (`path_progress`): a stopped run resumes."""
    settings = {"method": steering.method, "per_round": steering.per_round, "seed": seed} | asdict(training)
    key = identity(atlas.conditions, atlas.optima, settings)
    done = read_progress(kept, key) if kept is not None and kept.exists() else None
    if done is None:
        done = PathProgress(path_data(problem, atlas.conditions, atlas.optima))
        if kept is not None:
            write_progress(kept, key, done)

    def keep(labelled: RoundLabels) -> None:
        done.rounds.append(labelled)
        if kept is not None:
            write_progress(kept, key, done)

    zero_state = np.zeros_like(problem.state())  # no state model: it predicts C_D alone
    meta = {"spec": parameter_spec(problem.case).to_dict(), "mesh_sha256": problem.reference_sha256}
    meta["re_range"] = list(RE_RANGE)

    def wrap(net: DragNet, trained: PathSamples) -> Surrogate:
        return path_surrogate(net, trained, zero_state, np.ones_like(zero_state), meta)

    def draw(k: int, n: int) -> np.ndarray:
        return draw_conditions(np.random.default_rng([seed, k]), n)

    surrogate, record = steer(
        problem, done.path, training, steering, draw, wrap, progress, done.rounds[: steering.rounds], keep
    )
    surrogate.meta |= {
        "trained_on": "path of optima",
        "method": steering.method,
        "order": training.order,
        "rounds": steering.rounds,
        "fem_solves": atlas.fem_solves + len(done.path) + record.solves[-1],
        "hessians": len(atlas.optima) + record.hessians[-1],
    }
    return surrogate, surrogate.meta
