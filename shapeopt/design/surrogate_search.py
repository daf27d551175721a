"""Surrogate-driven drag reduction: the surrogate's optima, then FEM-verified trust-region steps.

1. Search the surrogate, averaged over each design and its mirror image (the flow's symmetry): ≥ 10⁵
   feasible designs in one batch (Sobol over the free parameters, the constrained ones solved for), then
   SLSQP multistart on the surrogate (autograd gradients) from the best (`search_surrogate`).
2. Trust region (`trust_region.refine`) from the best optimum the mesh can follow. By default
   (`curvature = "exact"`) its model is the FEM Taylor model with the exact Hessian (`ExactCurvature`,
   `no_surrogate`): Newton steps from the surrogate's optimum, 3× fewer FEM solves than the corrected
   surrogate in the wide space (docs/surrogate-optimization.md). With `curvature = "secant"` the model is
   the surrogate corrected to first order at each FEM iterate, its error's curvature learnt by SR1
   (`CorrectedModel`, `SecantCurvature`), which the first-order correction alone leaves wrong.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import qmc

from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.design.multipoint import MultipointFunctional
from shapeopt.design.results import OptimizationResult, RemeshRecord, SearchReport, TrustStep
from shapeopt.design.trust_region import (
    ExactCurvature,
    SecantCurvature,
    TrustRegionSettings,
    Verified,
    evaluate_start,
    minimise_model,
    no_surrogate,
    refine,
)
from shapeopt.designs import mirror_symmetric
from shapeopt.errors import ShapeError
from shapeopt.fem.problem import Evaluation

if TYPE_CHECKING:
    from surrogates import Surrogate


def mirror_averaged(
    surrogate: Surrogate,
    mirror: np.ndarray,
    s: np.ndarray,
    re: float | Sequence[float],
    gradient: bool = False,
    weights: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """½[S(s) + S(R s)] for s (b, m): C_D (b,) and, with `gradient`, its gradient (b, m), else None.

    With K Reynolds numbers `re` (K,) and `weights` w_k (K,; default equal) it is the weighted mean
    Σ_k w_k ½[S(s, Re_k) + S(R s, Re_k)] / Σ_k w_k of an operating range, all 2 b K queries in one
    forward pass. The freestream box is symmetric about the flow axis through the body's centre, so the
    true drag has C_D(R s) = C_D(s) for the mirror R (`RadialShape.mirror`, symmetric). The average
    removes the odd part of the network's error; at mirror-symmetric shapes its gradient across the
    symmetry is 0.
    """
    res = np.atleast_1d(np.asarray(re, dtype=float))
    w = np.ones(len(res)) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    n, k = len(s), len(res)
    both = np.repeat(np.vstack([s, s @ mirror]), k, axis=0)  # (2 b K, m): each design at every Re_k
    at = res[0] if k == 1 else np.tile(res, 2 * n)  # one Re: a scalar, as the surrogate takes it
    if not gradient:
        cd = surrogate.drag(both, at).reshape(2 * n, k) @ w
        return 0.5 * (cd[:n] + cd[n:]), None
    cd, grad = surrogate.drag_gradient(both, at)
    cd = cd.reshape(2 * n, k) @ w
    grad = np.einsum("bkm,k->bm", grad.reshape(2 * n, k, -1), w)
    return 0.5 * (cd[:n] + cd[n:]), 0.5 * (grad[:n] + grad[n:] @ mirror)


def flow_mirror(J: ReducedFunctional) -> np.ndarray:
    """(m, m) the mirror R of J's shapes (`RadialShape.mirror`, symmetric) where the flow is
    mirror-symmetric (`mirror_symmetric`), else the identity (the average is then the surrogate itself)."""
    if mirror_symmetric(J.problem.case):
        return J.space.shape.mirror()
    return np.eye(J.size)


def operating_points(J: ReducedFunctional) -> tuple[np.ndarray, np.ndarray]:
    """The Reynolds numbers (K,) J weighs and their weights (K,), summing to 1: an operating range's
    (`MultipointFunctional`), else J's one Re with weight 1."""
    if isinstance(J, MultipointFunctional):
        return np.array(J.res), np.asarray(J.weights)
    return np.array([J.re]), np.ones(1)


class MirroredSurrogate:
    """A surrogate's mirror-averaged C_D (`mirror_averaged`) at one Reynolds number `re`, or its weighted
    mean over K Reynolds numbers `re` (K,) with `weights` (K,), counting the network queries (2 K per
    design: it and its mirror image at each Re)."""

    def __init__(
        self,
        surrogate: Surrogate,
        mirror: np.ndarray,
        re: float | Sequence[float],
        weights: Sequence[float] | None = None,
    ):
        self.surrogate, self.mirror = surrogate, mirror
        self.re = np.atleast_1d(np.asarray(re, dtype=float))
        self.weights = weights
        self.queries = 0

    def values(self, s: np.ndarray) -> np.ndarray:
        """C_D (b,) of the designs s (b, m)."""
        self.queries += 2 * len(self.re) * len(s)
        return mirror_averaged(self.surrogate, self.mirror, s, self.re, weights=self.weights)[0]

    def __call__(self, s: np.ndarray) -> tuple[float, np.ndarray]:
        """C_D and its gradient (m,) at one design s (m,)."""
        self.queries += 2 * len(self.re)
        cd, grad = mirror_averaged(
            self.surrogate, self.mirror, s[None, :], self.re, gradient=True, weights=self.weights
        )
        return float(cd[0]), grad[0]


def global_search(
    J: ReducedFunctional,
    drag: Callable,
    n: int,
    keep: int,
    seed: int,
    known: np.ndarray | None = None,
    chunk: int = 2**13,
) -> tuple[np.ndarray, np.ndarray, SearchReport]:
    """Best `keep` by `drag(s (b, m))` → (b,) of the circle, the `known` designs (k, m) projected onto J's
    constraints, and `n` Sobol designs from the datasets' distribution (`RadialDesignSpace.draw`): the
    places where a surrogate saw data. Returns (keep, m), (keep,) and a report."""
    start = time.perf_counter()
    sobol = qmc.Sobol(J.size, scramble=True, seed=seed)
    pool = np.zeros((1, J.size)) if known is None else np.vstack([np.zeros((1, J.size)), known])
    best_s, ok = J.space.project(pool)  # the circle (scaled to the area) is admissible
    best_s = best_s[ok]
    best_cd = drag(best_s) if len(best_s) else np.empty(0)
    drawn = feasible = 0
    for first in range(0, n, chunk):
        s, admissible = J.space.draw(sobol.random(min(chunk, n - first)))
        drawn += len(s)
        s = s[admissible]
        cd = drag(s)
        feasible += len(s)
        best_s, best_cd = np.vstack([best_s, s]), np.concatenate([best_cd, cd])
        order = np.argsort(best_cd)[:keep]
        best_s, best_cd = best_s[order], best_cd[order]
    if not len(best_s):
        raise ShapeError(f"none of {n} designs drawn in the parameter box is admissible")
    report = SearchReport(
        drawn=drawn, feasible=feasible, best_cd=float(best_cd[0]), seconds=time.perf_counter() - start
    )
    return best_s, best_cd, report


def search_surrogate(
    J: ReducedFunctional,
    surrogate: MirroredSurrogate,
    settings: TrustRegionSettings,
    known: np.ndarray | None = None,
) -> tuple[list[np.ndarray], SearchReport]:
    """The surrogate's optima: the best `settings.starts` of the global search (`global_search`), each
    refined by SLSQP on the surrogate within `settings.search_radius`, best first (each (m,))."""
    starts, _, report = global_search(
        J, surrogate.values, settings.global_samples, settings.starts, settings.seed, known
    )
    candidates = [minimise_model(J, surrogate, s, center=s, radius=settings.search_radius) for s in starts]
    candidates.sort(key=lambda s: surrogate(s)[0])
    extra = {"surrogate_queries": surrogate.queries, "multistart_best_cd": surrogate(candidates[0])[0]}
    return candidates, dataclasses.replace(report, extra=extra)


def _first_meshable(
    J: ReducedFunctional, candidates: list[np.ndarray]
) -> tuple[Evaluation, int, RemeshRecord | None]:
    """FEM evaluation of the first candidate that a mesh can hold (the last one is the case's own shape,
    made feasible): on the current mesh, or on one generated for it where the current map would crush
    cells (`evaluate_start`); the remesh's record (None without one), and the number of candidates
    refused before it (not simple curves, out of the map's reach, or unsolvable)."""
    for refused, s in enumerate(candidates[:-1]):
        try:
            return (*evaluate_start(J, s), refused)
        except REFUSED:
            pass
    return (*evaluate_start(J, candidates[-1]), len(candidates) - 1)


def _initial(J: ReducedFunctional) -> Evaluation:
    """J's objective at the case's shape s = 0, without adjoints (1 FEM solve, K over an operating range)."""
    s = np.zeros(J.size)
    if isinstance(J, MultipointFunctional):
        return J.combined(s)
    return J.problem.evaluate(s, re=J.re)


def optimize_surrogate(
    J: ReducedFunctional,
    surrogate: Surrogate,
    settings: TrustRegionSettings | None = None,
    progress: Callable[[TrustStep], None] | None = None,
    verified: Verified | None = None,
    known: np.ndarray | None = None,
    report_initial: bool = True,
) -> OptimizationResult:
    """Surrogate search, then trust-region refinement with one FEM solve + adjoint of `J` per outer step.

    The surrogate is queried at J's Reynolds number, or for a `MultipointFunctional` J as the weighted
    mean over its operating range (`operating_points`), which the corrected model then stands for too.
    `progress` gets each `TrustStep`;
    `verified(evaluation, state)` is called after every FEM solve with a copy of its state (n,) (e.g. to
    append it to a dataset). `known` (k, m): designs the surrogate was trained on (its dataset's,
    FEM-verified optima of earlier runs included), searched beside the drawn ones. The result's `refused`
    counts the shapes the mesh could not follow: surrogate optima before the first FEM iterate and trial
    steps; its `initial` is
    the case's shape (s = 0), solved after the optimization and not in its FEM count. With
    `settings.curvature == "exact"` (the default) the refinement's model is the FEM Taylor model with the
    exact Hessian at each iterate (`ExactCurvature`, Newton steps) and the surrogate chooses where it
    starts; with "secant" it is the corrected surrogate (`CorrectedModel`, `SecantCurvature`).
    """
    settings = settings or TrustRegionSettings()
    problem = J.problem
    # The case's initial shape, for the report only, on the reference mesh (generated for it) before any
    # remesh: not part of the optimization's FEM count or time.
    initial = _initial(J) if report_initial else None
    reporting_solves = problem.fem_solves
    start = time.perf_counter()
    mirrored = MirroredSurrogate(surrogate, flow_mirror(J), *operating_points(J))
    candidates, search = search_surrogate(J, mirrored, settings, known)
    first, first_remesh, refused = _first_meshable(
        J, [*candidates, J.space.feasible_start(np.zeros(J.size))[0]]
    )
    if settings.curvature == "exact":
        refined = refine(J, no_surrogate, settings, first, ExactCurvature(J), progress, verified, start)
    else:
        refined = refine(J, mirrored, settings, first, SecantCurvature(), progress, verified, start)
    final = J.shape_summary(refined.final)
    fem_solves, adjoint_solves = problem.fem_solves - reporting_solves, problem.adjoint_solves
    seconds = time.perf_counter() - start
    return OptimizationResult(
        method="surrogate",
        initial=J.shape_summary(first if initial is None else initial),
        final=final,
        history=refined.history,
        message=refined.message,
        converged=refined.converged,
        refused=refused + refined.refused,
        search=dataclasses.asdict(search),
        fem_solves=fem_solves,
        adjoint_solves=adjoint_solves,
        hessians=problem.hessians,
        seconds=seconds,
        final_state=refined.state,
        remeshes=[record.to_dict() for record in [first_remesh, *refined.remeshes] if record is not None],
    )
