"""Surrogate-driven drag reduction with FEM-verified trust-region model management.

1. Search the surrogate, averaged over each design and its mirror image (the flow's symmetry): ≥ 10⁵
   feasible designs in one batch (Sobol over the free parameters, the constrained ones solved for), then
   SLSQP multistart on the surrogate (autograd gradients) from the best (`search_surrogate`).
2. Trust region: at iterate s_k the FEM gives C_k and ∇C_k (adjoint); the model
   `m_k(s) = S(s) + [C_k − S(s_k)] + [∇C_k − ∇S(s_k)]·d + ½ dᵀ B_k d`, `d = s − s_k` (`CorrectedModel`), is
   minimised under the constraints inside `|d|_∞ ≤ Δ_k`. `B_k` (SR1 from FEM and surrogate gradient
   differences, zero at first) learns the curvature of the surrogate's error, which the first-order
   correction alone leaves wrong. The ratio of actual to predicted reduction accepts the step and sets Δ
   (`update_radius`). It stops on the FEM first-order criterion (KKT residual), so the answer is a
   stationary point of the FEM problem whatever the surrogate's error. By default (`curvature =
   "exact"`) the model is instead the FEM Taylor model with the exact Hessian (`ExactCurvature`,
   `no_surrogate`): Newton steps from the surrogate's optimum, 3× fewer FEM solves than the corrected
   surrogate in the wide space (docs/surrogate-optimization.md).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from shapeopt.cases import mirror_symmetric
from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.design.optimize import OptimizationResult
from shapeopt.errors import ShapeError
from shapeopt.fem.problem import Evaluation

if TYPE_CHECKING:
    from surrogates import Surrogate

# A model s ↦ (value, gradient (m,)) at one design s (m,).
Model = Callable[[np.ndarray], tuple[float, np.ndarray]]
# Called after each FEM solve with its evaluation and a copy of its state (n,), which it must not modify.
Verified = Callable[[Evaluation, np.ndarray], None]


@dataclass(frozen=True)
class TrustStep:
    """One outer step: FEM, surrogate and corrected-model C_D at the iterate, radius, ratio, work so far
    (`surrogate_cd` is 0 for the Newton method, whose model is the FEM Taylor expansion alone)."""

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
    """Radius (∞-norm in s), its bounds, acceptance threshold, stopping tolerance, search sizes (the
    multistart keeps near the drawn designs, where the surrogate saw data) and the refinement's model."""

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
    curvature: str = "exact"  # the refinement's model: "exact" FEM Hessian, or "secant" corrected surrogate


@dataclass(frozen=True)
class SearchReport:
    """What the surrogate search did: designs drawn, those feasible (all queried), the best surrogate C_D,
    the seconds of the global search; `extra`: surrogate queries and the multistart's best C_D."""

    drawn: int
    feasible: int
    best_cd: float
    seconds: float
    extra: dict = field(default_factory=dict)


def mirror_averaged(
    surrogate: Surrogate, mirror: np.ndarray, s: np.ndarray, re: float, gradient: bool = False
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


def flow_mirror(J: ReducedFunctional) -> np.ndarray:
    """(m, m) the mirror R of J's shapes (`RadialShape.mirror`) where the flow is mirror-symmetric
    (`mirror_symmetric`), else the identity (the average is then the surrogate itself)."""
    if mirror_symmetric(J.problem.case):
        return J.space.shape.mirror()
    return np.eye(J.size)


class MirroredSurrogate:
    """A surrogate's mirror-averaged C_D (`mirror_averaged`) at one Reynolds number, counting the network
    queries (two per design: it and its mirror image)."""

    def __init__(self, surrogate: Surrogate, mirror: np.ndarray, re: float):
        self.surrogate, self.mirror, self.re = surrogate, mirror, re
        self.queries = 0

    def values(self, s: np.ndarray) -> np.ndarray:
        """C_D (b,) of the designs s (b, m)."""
        self.queries += 2 * len(s)
        return mirror_averaged(self.surrogate, self.mirror, s, self.re)[0]

    def __call__(self, s: np.ndarray) -> tuple[float, np.ndarray]:
        """C_D and its gradient (m,) at one design s (m,)."""
        self.queries += 2
        cd, grad = mirror_averaged(self.surrogate, self.mirror, s[None, :], self.re, gradient=True)
        return float(cd[0]), grad[0]


@dataclass(frozen=True)
class CorrectedModel:
    """The trust-region model about the FEM iterate s_k (`evaluation`: C_k, ∇C_k (m,)):
    `m_k(s) = S(s) + [C_k − S(s_k)] + [∇C_k − ∇S(s_k)]·d + ½ dᵀ B_k d`, `d = s − s_k`, with the surrogate
    S (a `Model`), its value and gradient (m,) at s_k, and the curvature B_k (m, m) of its error C − S."""

    surrogate: Model
    evaluation: Evaluation
    surrogate_cd: float
    surrogate_gradient: np.ndarray
    curvature: np.ndarray

    @classmethod
    def at(cls, surrogate: Model, evaluation: Evaluation, curvature: np.ndarray) -> CorrectedModel:
        """The model about the FEM `evaluation` (with gradient) with curvature B_k (m, m)."""
        value, gradient = surrogate(evaluation.s)
        return cls(surrogate, evaluation, value, gradient, curvature)

    def __call__(self, s: np.ndarray) -> tuple[float, np.ndarray]:
        """m_k(s) and ∇m_k(s) (m,) at s (m,); C_k and ∇C_k at s_k."""
        value, grad = self.surrogate(s)
        d = s - self.evaluation.s
        slope = self.evaluation.dcd - self.surrogate_gradient
        return (
            value + (self.evaluation.cd - self.surrogate_cd) + slope @ d + 0.5 * d @ self.curvature @ d,
            grad + slope + self.curvature @ d,
        )

    def sr1_update(self, s: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """B_{k+1} (m, m): the SR1 update of B_k from the step d = s − s_k and the change of the error's
        gradient y = [∇C(s) − ∇C_k] − [∇S(s) − ∇S(s_k)], with `gradient` = ∇C(s) (m,) by FEM, so that
        B_{k+1} d = y; B_k itself where r = y − B_k d is nearly orthogonal to d (|rᵀd| ≤ 10⁻⁸ |r| |d|)."""
        d = s - self.evaluation.s
        y = (gradient - self.evaluation.dcd) - (self.surrogate(s)[1] - self.surrogate_gradient)
        r = y - self.curvature @ d
        if abs(r @ d) > 1e-8 * np.linalg.norm(r) * np.linalg.norm(d):
            return self.curvature + np.outer(r, r) / (r @ d)
        return self.curvature


def update_radius(
    settings: TrustRegionSettings, radius: float, ratio: float, step_length: float
) -> tuple[float, bool]:
    """The radius after a trial step of ∞-norm `step_length` whose actual reduction was `ratio` times the
    predicted one (−∞ for a refused shape): accepted if ratio ≥ `settings.accept`; the radius shrinks to
    ¼ of the step below ratio ¼, doubles (at most to `settings.max_radius`) above ¾ if the step reached
    the boundary, else stays. Returns (radius, accepted)."""
    accepted = bool(ratio >= settings.accept)
    if ratio < 0.25:
        radius = 0.25 * step_length
    elif ratio > 0.75 and step_length >= 0.99 * radius:
        radius = min(2 * radius, settings.max_radius)
    return radius, accepted


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


def minimise_model(
    J: ReducedFunctional,
    model: Model,
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


def _first_meshable(J: ReducedFunctional, candidates: list[np.ndarray]) -> tuple[Evaluation, int]:
    """FEM evaluation of the first candidate the mesh can follow (the last one is the case's own shape),
    and the number of candidates refused before it."""
    for refused, s in enumerate(candidates[:-1]):
        try:
            return J.evaluate(s), refused
        except REFUSED:
            pass
    return J.evaluate(candidates[-1]), len(candidates) - 1


def _solved_state(J: ReducedFunctional, evaluation: Evaluation, verified: Verified | None) -> np.ndarray:
    """A copy of the FEM state (local DOFs) of `evaluation`, the last solve, passed to `verified`."""
    state = J.problem.state()
    if verified is not None:
        verified(evaluation, state)
    return state


def _stop(settings: TrustRegionSettings, step: int, radius: float, kkt: float) -> tuple[str, bool] | None:
    """(message, converged) if the loop stops at outer step `step`, else None."""
    if kkt <= settings.kkt_tolerance:
        return f"FEM first-order criterion met (KKT residual {kkt:.1e})", True
    if radius < settings.min_radius or step == settings.max_steps:
        return f"stopped: trust radius {radius:.1e}, KKT residual {kkt:.1e}", False
    return None


@dataclass(frozen=True)
class Refined:
    """Where the trust-region loop ended: the final FEM evaluation and its state (local DOFs), the
    steps, why it stopped, and the trial shapes refused on the way."""

    final: Evaluation
    state: np.ndarray
    history: list[TrustStep]
    message: str
    converged: bool
    refused: int


class Curvature(Protocol):
    """Where the model's curvature B_k (m, m) comes from: its value at the first iterate, and after each
    trial step (FEM-evaluated with gradient; `accepted` says whether it becomes the iterate)."""

    def first(self, current: Evaluation) -> np.ndarray: ...

    def after(self, model: CorrectedModel, trial: Evaluation, accepted: bool) -> np.ndarray: ...


class SecantCurvature:
    """B_k of the surrogate's error C − S: zero at first, then SR1 from every trial step
    (`CorrectedModel.sr1_update`)."""

    def first(self, current: Evaluation) -> np.ndarray:
        return np.zeros((len(current.s), len(current.s)))

    def after(self, model: CorrectedModel, trial: Evaluation, accepted: bool) -> np.ndarray:
        return model.sr1_update(trial.s, trial.dcd)


class ExactCurvature:
    """B_k = the FEM Hessian d²C_D/ds² at each accepted iterate (`ReducedFunctional.hessian`), for the
    model without a surrogate (`no_surrogate`): the exact second-order Taylor model of the FEM drag."""

    def __init__(self, J: ReducedFunctional):
        self.J = J

    def first(self, current: Evaluation) -> np.ndarray:
        return self.J.hessian(current.s)

    def after(self, model: CorrectedModel, trial: Evaluation, accepted: bool) -> np.ndarray:
        return self.J.hessian(trial.s) if accepted else model.curvature


def no_surrogate(s: np.ndarray) -> tuple[float, np.ndarray]:
    """The zero model: the corrected model becomes the FEM Taylor expansion alone."""
    return 0.0, np.zeros_like(s)


def refine(
    J: ReducedFunctional,
    surrogate: Model,
    settings: TrustRegionSettings,
    current: Evaluation,
    curvature: Curvature,
    progress: Callable[[TrustStep], None] | None = None,
    verified: Verified | None = None,
    start: float | None = None,
) -> Refined:
    """Trust-region steps from the FEM evaluation `current` (just solved), one FEM solve + adjoint per
    trial step, on the model `CorrectedModel` of `surrogate` with `curvature`'s B_k. Times from `start`
    (`time.perf_counter`; default now)."""
    start = time.perf_counter() if start is None else start
    state = _solved_state(J, current, verified)
    radius, ratio, accepted = settings.radius, float("nan"), True
    hessian = curvature.first(current)
    history: list[TrustStep] = []
    refused = 0
    for step in itertools.count():  # `_stop` ends it at step `settings.max_steps` at the latest
        model = CorrectedModel.at(surrogate, current, hessian)
        kkt = J.space.kkt_residual(current.s, current.dcd)
        history.append(
            TrustStep(
                iteration=step,
                s=current.s.tolist(),
                cd=current.cd,
                surrogate_cd=model.surrogate_cd,
                model_cd=current.cd,
                radius=radius,
                ratio=ratio,
                accepted=accepted,
                violation=J.space.violation(current.s),
                kkt_residual=kkt,
                fem_solves=J.problem.fem_solves,
                seconds=time.perf_counter() - start,
            )
        )
        if progress is not None:
            progress(history[-1])
        stop = _stop(settings, step, radius, kkt)
        if stop is not None:
            message, converged = stop
            return Refined(
                final=current,
                state=state,
                history=history,
                message=message,
                converged=converged,
                refused=refused,
            )
        candidate = minimise_model(J, model, current.s, center=current.s, radius=radius)
        predicted = current.cd - model(candidate)[0]
        if predicted <= 1e-12 * abs(current.cd):
            radius /= 4  # no model decrease inside the ball: shrink until the FEM criterion decides
            ratio, accepted = float("nan"), False
            continue
        try:
            trial = J.evaluate(candidate)
            trial_state = _solved_state(J, trial, verified)
            ratio = float((current.cd - trial.cd) / predicted)
        except REFUSED:
            trial, ratio, refused = None, -np.inf, refused + 1
        step_length = float(np.max(np.abs(candidate - current.s)))
        radius, accepted = update_radius(settings, radius, ratio, step_length)
        if trial is not None:
            hessian = curvature.after(model, trial, accepted)
        if accepted:
            current, state = trial, trial_state


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

    The surrogate is queried at J's Reynolds number. `progress` gets each `TrustStep`;
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
    start = time.perf_counter()
    problem = J.problem
    mirrored = MirroredSurrogate(surrogate, flow_mirror(J), J.re)
    candidates, search = search_surrogate(J, mirrored, settings, known)
    first, refused = _first_meshable(J, [*candidates, np.zeros(J.size)])
    if settings.curvature == "exact":
        refined = refine(J, no_surrogate, settings, first, ExactCurvature(J), progress, verified, start)
    else:
        refined = refine(J, mirrored, settings, first, SecantCurvature(), progress, verified, start)
    final = J.shape_summary(refined.final)
    fem_solves, adjoint_solves = problem.fem_solves, problem.adjoint_solves
    seconds = time.perf_counter() - start
    # The case's initial shape, for the report only: not part of the optimization's FEM count.
    initial = J.shape_summary(problem.evaluate(np.zeros(J.size), re=J.re) if report_initial else first)
    return OptimizationResult(
        method="surrogate",
        initial=initial,
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
    )
