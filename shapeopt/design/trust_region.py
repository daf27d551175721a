"""Surrogate-driven drag reduction with FEM-verified trust-region model management (DESIGN §5).

1. Search the surrogate, averaged over each design and its mirror image (the flow's symmetry): ≥ 10⁵
   feasible designs in one batch (Sobol over the free parameters, the constrained ones solved for), then
   SLSQP multistart on the surrogate (autograd gradients) from the best.
2. Trust region: at iterate s_k the FEM gives C_k and ∇C_k (adjoint); the model
   `m_k(s) = S(s) + [C_k − S(s_k)] + [∇C_k − ∇S(s_k)]·d + ½ dᵀ B_k d`, `d = s − s_k`, is minimised under the
   constraints inside `|d|_∞ ≤ Δ_k`. `B_k` (SR1 from FEM and surrogate gradient differences, zero at first)
   learns the curvature of the surrogate's error, which the first-order correction alone leaves wrong.
   The ratio of actual to predicted reduction accepts the step and sets Δ. It stops on the FEM first-order
   criterion (KKT residual), so the answer is a stationary point of the FEM problem
   whatever the surrogate's error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.design.optimize import OptimizationResult
from shapeopt.errors import ShapeError
from shapeopt.fem.problem import Evaluation


@dataclass
class TrustStep:
    """One outer step: FEM, surrogate and corrected-model C_D at the iterate, radius, ratio, work so far."""

    iteration: int
    s: list[float]
    cd: float
    surrogate_cd: float
    model_cd: float
    radius: float
    ratio: float
    accepted: bool
    violation: float
    kkt_residual: float
    fem_solves: int
    seconds: float


@dataclass
class TrustRegionSettings:
    """Radius (∞-norm in s), its bounds, acceptance threshold, stopping tolerance, search sizes; the
    multistart keeps near the drawn designs, where the surrogate saw data."""

    radius: float = 0.05
    min_radius: float = 1e-5
    max_radius: float = 0.3
    accept: float = 0.1
    kkt_tolerance: float = 1e-4
    max_steps: int = 60
    global_samples: int = 2**17
    starts: int = 8
    search_radius: float = 0.3  # multistart moves at most this far (∞-norm) from a drawn design
    seed: int = 0


@dataclass
class SearchReport:
    """What the surrogate search did: designs drawn, those feasible (all queried), the best surrogate C_D."""

    drawn: int = 0
    feasible: int = 0
    best_cd: float = float("nan")
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def mirror_averaged(
    surrogate, mirror: np.ndarray, s: np.ndarray, re: float, gradient: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """½[S(s) + S(R s)] for s (b, m): C_D (b,) and, with `gradient`, its gradient (b, m), else None.

    The freestream box is symmetric about the flow axis through the body's centre, so the true drag
    has C_D(R s) = C_D(s) for the mirror R (`RadialShape.mirror`, symmetric). The average removes the
    odd part of the network's error; at mirror-symmetric shapes its gradient across the symmetry is 0.
    """
    n = len(s)
    both = np.vstack([s, s @ mirror])
    if not gradient:
        cd = surrogate.drag(both, re)
        return 0.5 * (cd[:n] + cd[n:]), None
    cd, grad = surrogate.drag_gradient(both, re)
    return 0.5 * (cd[:n] + cd[n:]), 0.5 * (grad[:n] + grad[n:] @ mirror)


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
    report = SearchReport()
    for first in range(0, n, chunk):
        s, feasible = J.space.draw(sobol.random(min(chunk, n - first)))
        report.drawn += len(s)
        s = s[feasible]
        cd = drag(s)
        report.feasible += len(s)
        best_s, best_cd = np.vstack([best_s, s]), np.concatenate([best_cd, cd])
        order = np.argsort(best_cd)[:keep]
        best_s, best_cd = best_s[order], best_cd[order]
    if not len(best_s):
        raise ShapeError(f"none of {n} designs drawn in the parameter box is admissible")
    report.best_cd = float(best_cd[0])
    report.seconds = time.perf_counter() - start
    return best_s, best_cd, report


def minimise_model(
    J: ReducedFunctional,
    model: Callable,
    s0: np.ndarray,
    center: np.ndarray | None = None,
    radius: float | None = None,
) -> np.ndarray:
    """SLSQP on a smooth model `s ↦ (value, gradient)` under J's constraints, bounds and an ∞-norm ball."""
    bounds = J.space.bounds if center is None else np.array(J.space.bounds_within(center, radius))
    outcome = minimize(
        model,
        np.clip(s0, bounds[:, 0], bounds[:, 1]),
        jac=True,
        method="SLSQP",
        bounds=bounds,
        constraints=J.space.scipy_constraints(),
        options={"maxiter": 200, "ftol": 1e-12},
    )
    s, ok = J.space.project(outcome.x[None, :])  # exact feasibility before any FEM call
    return s[0] if ok[0] else outcome.x


def _first_meshable(J: ReducedFunctional, candidates: list[np.ndarray], result: OptimizationResult):
    """FEM evaluation of the first candidate the mesh can follow (the last one is the case's own shape)."""
    for s in candidates[:-1]:
        try:
            return J.evaluate(s)
        except REFUSED:
            result.refused += 1
    return J.evaluate(candidates[-1])


def optimize_surrogate(
    J: ReducedFunctional,
    surrogate,
    settings: TrustRegionSettings | None = None,
    progress: Callable[[TrustStep], None] | None = None,
    verified: Callable[[Evaluation, np.ndarray], None] | None = None,
    known: np.ndarray | None = None,
) -> OptimizationResult:
    """Surrogate search, then trust-region refinement with one FEM solve + adjoint of `J` per outer step.

    The surrogate is queried at J's Reynolds number. `verified(evaluation, state)` is called after every
    FEM solve (e.g. to append it to a dataset). `known` (k, m): designs the surrogate was trained on (its
    dataset's, FEM-verified optima of earlier runs included), searched beside the drawn ones.
    """
    settings = settings or TrustRegionSettings()
    start = time.perf_counter()
    problem, re = J.problem, J.re
    queries = [0]

    mirror = J.space.shape.mirror()

    def surrogate_value(s: np.ndarray) -> np.ndarray:
        queries[0] += 2 * len(s)
        return mirror_averaged(surrogate, mirror, s, re)[0]

    def surrogate_with_gradient(s: np.ndarray) -> tuple[float, np.ndarray]:
        queries[0] += 2
        cd, grad = mirror_averaged(surrogate, mirror, s[None, :], re, gradient=True)
        return float(cd[0]), grad[0]

    # 1. Global search and multistart on the surrogate alone.
    starts, _, search = global_search(
        J, surrogate_value, settings.global_samples, settings.starts, settings.seed, known
    )
    candidates = [
        minimise_model(J, surrogate_with_gradient, s, center=s, radius=settings.search_radius) for s in starts
    ]
    candidates.sort(key=lambda s: surrogate_with_gradient(s)[0])
    search.extra = {
        "surrogate_queries": queries[0],
        "multistart_best_cd": surrogate_with_gradient(candidates[0])[0],
    }

    result = OptimizationResult("surrogate", {}, {})
    current = _first_meshable(J, [*candidates, np.zeros(J.size)], result)
    if verified is not None:
        verified(current, problem.state())
    radius, ratio, accepted = settings.radius, float("nan"), True
    curvature = np.zeros((problem.size, problem.size))  # quasi-Newton Hessian of C − S (SR1)
    for step in range(settings.max_steps + 1):
        c_k, g_k = current.cd, current.dcd
        s_k = current.s
        surrogate_k, dsurrogate_k = surrogate_with_gradient(s_k)
        kkt = J.space.kkt_residual(s_k, g_k)
        result.history.append(
            TrustStep(
                step,
                s_k.tolist(),
                c_k,
                surrogate_k,
                c_k,
                radius,
                ratio,
                accepted,
                J.space.violation(s_k),
                kkt,
                problem.fem_solves,
                time.perf_counter() - start,
            )
        )
        if progress is not None:
            progress(result.history[-1])
        if kkt <= settings.kkt_tolerance:
            result.message, result.converged = f"FEM first-order criterion met (KKT residual {kkt:.1e})", True
            break
        if radius < settings.min_radius or step == settings.max_steps:
            result.message = f"stopped: trust radius {radius:.1e}, KKT residual {kkt:.1e}"
            break

        frozen_curvature = curvature.copy()

        def model(
            s: np.ndarray,
            c_k=c_k,
            g_k=g_k,
            s_k=s_k,
            surrogate_k=surrogate_k,
            dsurrogate_k=dsurrogate_k,
            curvature=frozen_curvature,
        ) -> tuple[float, np.ndarray]:
            value, grad = surrogate_with_gradient(s)
            d = s - s_k
            slope = g_k - dsurrogate_k
            return (
                value + (c_k - surrogate_k) + slope @ d + 0.5 * d @ curvature @ d,
                grad + slope + curvature @ d,
            )

        candidate = minimise_model(J, model, s_k, center=s_k, radius=radius)
        predicted = c_k - model(candidate)[0]
        if predicted <= 1e-12 * abs(c_k):
            radius /= 4  # no model decrease inside the ball: shrink until the FEM criterion decides
            ratio, accepted = float("nan"), False
            continue
        try:
            trial = J.evaluate(candidate)
            if verified is not None:
                verified(trial, problem.state())
            ratio = float((c_k - trial.cd) / predicted)
            # SR1 update of the error's Hessian from the FEM and surrogate gradient differences.
            d = candidate - s_k
            y = (trial.dcd - g_k) - (surrogate_with_gradient(candidate)[1] - dsurrogate_k)
            r = y - curvature @ d
            if abs(r @ d) > 1e-8 * np.linalg.norm(r) * np.linalg.norm(d):
                curvature += np.outer(r, r) / (r @ d)
        except REFUSED:
            trial, ratio = None, -np.inf
        step_length = float(np.max(np.abs(candidate - s_k)))
        accepted = bool(ratio >= settings.accept)
        if ratio < 0.25:
            radius = 0.25 * step_length
        elif ratio > 0.75 and step_length >= 0.99 * radius:
            radius = min(2 * radius, settings.max_radius)
        if accepted:
            current = trial
    result.final = J.record(current)
    result.fem_solves, result.adjoint_solves = problem.fem_solves, problem.adjoint_solves
    result.seconds = time.perf_counter() - start
    result.search = asdict(search)
    # The case's initial shape, for the report only: not part of the optimization's FEM count.
    result.initial = J.record(problem.evaluate(np.zeros(J.size), re=re))
    return result
