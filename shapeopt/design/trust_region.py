"""The trust region on the FEM drag: the loop that SLSQP-free optimizers share (`refine`).

At the FEM iterate s_k (C_k and ∇C_k by adjoint) the model
`m_k(s) = S(s) + [C_k − S(s_k)] + [∇C_k − ∇S(s_k)]·d + ½ dᵀ B_k d`, `d = s − s_k` (`CorrectedModel`), of a
base model S is minimised under the constraints inside `|d|_∞ ≤ Δ_k` (`minimise_model`). The ratio of
actual to predicted reduction accepts the step and sets Δ (`update_radius`); the loop stops on the FEM
first-order criterion (KKT residual), so the answer is a stationary point of the FEM problem whatever S.
The curvature B_k comes from a strategy (`Curvature`): the exact FEM Hessian at each accepted iterate
(`ExactCurvature`; with S = 0, `no_surrogate`, Newton steps: `newton.optimize_newton`), or SR1 updates of
the curvature of the error C − S of a surrogate S (`SecantCurvature`; `surrogate_search`).

A trial shape that the mesh map would follow only below its quality floor does not end the loop: the
mesh is regenerated for the iterate (`DragProblem.remesh`), the iterate evaluated on it again, and the
same step tried from there, so that the ratio test compares two solves on one mesh and the stop is
measured on the mesh of the final shape (`RemeshRecord` in `Refined.remeshes`).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.optimize import minimize

from shapeopt.design.functional import REFUSED, ReducedFunctional
from shapeopt.design.results import RemeshRecord, TrustStep
from shapeopt.errors import MeshQualityError, ReachError
from shapeopt.fem.problem import Evaluation, Remesh
from shapeopt.space.base import FEASIBILITY_TOLERANCE, MIN_RADIUS_RATIO

# A model s ↦ (value, gradient (m,)) at one design s (m,).
Model = Callable[[np.ndarray], tuple[float, np.ndarray]]
# Called after each FEM solve with its evaluation and a copy of its state (n,), which it must not modify.
Verified = Callable[[Evaluation, np.ndarray], None]


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
    remesh: bool = True  # regenerate the mesh at the iterate when a trial shape distorts it (`refine`)


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
        slope = self.evaluation.gradient - self.surrogate_gradient
        return (
            value
            + (self.evaluation.objective - self.surrogate_cd)
            + slope @ d
            + 0.5 * d @ self.curvature @ d,
            grad + slope + self.curvature @ d,
        )

    def sr1_update(self, s: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """B_{k+1} (m, m): the SR1 update of B_k from the step d = s − s_k and the change of the error's
        gradient y = [∇C(s) − ∇C_k] − [∇S(s) − ∇S(s_k)], with `gradient` = ∇C(s) (m,) by FEM, so that
        B_{k+1} d = y; B_k itself where r = y − B_k d is nearly orthogonal to d (|rᵀd| ≤ 10⁻⁸ |r| |d|)."""
        d = s - self.evaluation.s
        y = (gradient - self.evaluation.gradient) - (self.surrogate(s)[1] - self.surrogate_gradient)
        r = y - self.curvature @ d
        if abs(r @ d) > 1e-8 * np.linalg.norm(r) * np.linalg.norm(d):
            return self.curvature + np.outer(r, r) / (r @ d)
        return self.curvature


# A trial refused because a body's radius would fall to `MIN_RADIUS_RATIO` somewhere: it would pinch off.
SPLIT_NOTE = "trial shape refused: a body would split"
# A trial refused because a body would reach its mesh map's radius, which no regenerated mesh moves.
REACH_NOTE = "trial shape refused: a body would reach past its mesh map"
# A trial refused because a body would reach further than the current mesh's map: each mesh generated for
# the iterate lets it reach half-way to the map's radius.
BEYOND_REACH_NOTE = "trial shape refused: beyond the map's reach"


def update_radius(
    settings: TrustRegionSettings, radius: float, ratio: float, step_length: float
) -> tuple[float, bool]:
    """The radius after a trial step of ∞-norm `step_length` whose actual reduction was `ratio` times the
    predicted one (−∞ for a refused shape): accepted if ratio ≥ `settings.accept`; the radius shrinks to
    ¼ of the step below ratio ¼ or for a ratio that is no number (NaN: rejected, never kept), doubles (at
    most to `settings.max_radius`) above ¾ if the step reached the boundary, else stays. Returns (radius,
    accepted)."""
    accepted = bool(np.isfinite(ratio) and ratio >= settings.accept)
    if not ratio >= 0.25:  # NaN included
        radius = 0.25 * step_length
    elif ratio > 0.75 and step_length >= 0.99 * radius:
        radius = min(2 * radius, settings.max_radius)
    return radius, accepted


@dataclass(frozen=True)
class Trial:
    """One trial step of the loop: its FEM evaluation and state (None where none was solved), the ratio of
    actual to predicted reduction (None without a solve), the radius after it, whether it is accepted,
    whether its shape was refused, and `note`, why the radius changed where no ratio says it."""

    evaluation: Evaluation | None
    state: np.ndarray | None
    ratio: float | None
    radius: float
    accepted: bool
    refused: bool = False
    note: str = ""
    remesh_reason: str | None = None  # refused where a mesh generated for the iterate may hold it: why


def try_step(
    J: ReducedFunctional,
    settings: TrustRegionSettings,
    model: CorrectedModel,
    radius: float,
    verified: Verified | None = None,
) -> Trial:
    """Minimise `model` inside `radius` about its FEM iterate and, where it predicts a decrease at a design
    that keeps the constraints (violation at most the iterate's, or `FEASIBILITY_TOLERANCE`), solve there
    (one FEM solve + adjoint) and rate the step; else shrink the radius to ¼ and say why."""
    current = model.evaluation
    candidate = minimise_model(J, model, current.s, center=current.s, radius=radius)
    predicted = current.objective - model(candidate)[0]
    violation = J.space.violation(candidate)
    if violation > max(FEASIBILITY_TOLERANCE, J.space.violation(current.s)):
        note = f"model step off the constraints ({violation:.0e})"
        return Trial(None, None, None, radius / 4, False, note=note)
    if not predicted > 1e-12 * abs(current.objective):  # shrink until the FEM criterion decides
        return Trial(None, None, None, radius / 4, False, note="no model decrease")
    step_length = float(np.max(np.abs(candidate - current.s)))
    try:
        trial = J.evaluate(candidate)
        state = _solved_state(J, trial, verified)
    except REFUSED as exc:
        radius, _ = update_radius(settings, radius, -np.inf, step_length)
        remesh_reason = mesh_refusal(exc)
        low, _ = J.space.shape.radius_ratio_range(candidate[None, :], 2048)
        note = SPLIT_NOTE if low[0] <= MIN_RADIUS_RATIO else "trial shape refused"
        if isinstance(exc, ReachError):
            note = BEYOND_REACH_NOTE
            if J.problem.morph.beyond_any_map(candidate) is not None:
                note, remesh_reason = REACH_NOTE, None
        return Trial(None, None, None, radius, False, True, note, remesh_reason)
    ratio = float((current.objective - trial.objective) / predicted)
    radius, accepted = update_radius(settings, radius, ratio, step_length)
    if not np.isfinite(ratio):
        return Trial(trial, state, None, radius, False, note="reduction ratio not a number")
    return Trial(trial, state, ratio, radius, accepted)


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


def _solved_state(J: ReducedFunctional, evaluation: Evaluation, verified: Verified | None) -> np.ndarray:
    """A copy of the FEM state (local DOFs) of `evaluation`, the last solve, passed to `verified` where it
    was solved on the case's reference mesh: samples of datasets and surrogates share that mesh's DOF
    layout, which a regenerated mesh's states do not have."""
    state = J.problem.state()
    if verified is not None and evaluation.mesh_sha256 == J.problem.reference_sha256:
        verified(evaluation, state)
    return state


def remesh_iterate(
    J: ReducedFunctional,
    current: Evaluation,
    step: int,
    reason: str,
    verified: Verified | None,
) -> tuple[Evaluation, np.ndarray, RemeshRecord]:
    """Regenerate the mesh for the iterate `current` of outer step `step` (a trial shape was refused for
    `reason`, `mesh_refusal`) and evaluate the iterate there again (one FEM solve + adjoint), so that
    iterate and trial steps share one mesh for the ratio test. The iterate is first moved to the nearest
    design that meets the constraints as measured on the new mesh's boundary (`nearest_feasible`: its
    area and centroid differ from the old mesh's by the boundaries' discretisation, ~1e-4 relative on
    coarse), so that every iterate stays feasible. Returns the new evaluation, its state and the record."""
    start = time.perf_counter()
    remesh = J.problem.remesh(current.s, reason)
    again, record = _solved_on_new_mesh(J, remesh, current.s, step, current.objective, start)
    return again, _solved_state(J, again, verified), record


def mesh_refusal(exc: Exception) -> str | None:
    """Why the current mesh refused a shape, where a mesh generated for a nearer shape may hold it: its
    cells would fall below the quality floor, or the shape reaches beyond the map (which reaches further
    from a body the mesh was generated for); None for other refusals (not a simple curve, no solve)."""
    if isinstance(exc, MeshQualityError):
        return f"a trial shape would distort the mesh (min scaled Jacobian {exc.quality:.3f})"
    if isinstance(exc, ReachError):
        return "a trial shape would reach beyond the mesh map"
    return None


def evaluate_start(J: ReducedFunctional, s: np.ndarray) -> tuple[Evaluation, RemeshRecord | None]:
    """The FEM evaluation (with gradient) of an optimization's start `s` (m,): on the current mesh where
    its map follows `s`, else on a mesh generated for `s` (`DragProblem.follow`), where `s` is first
    moved to the nearest design that meets the constraints as measured on that mesh's boundary
    (`nearest_feasible`). Returns the evaluation and the
    remesh's record (outer step 0; None without one)."""
    start = time.perf_counter()
    reason = "the mesh cannot follow the start"
    remesh = J.problem.follow(s, reason)
    if remesh is None:
        return J.evaluate(s), None
    return _solved_on_new_mesh(J, remesh, s, 0, None, start)


def _solved_on_new_mesh(
    J: ReducedFunctional, remesh: Remesh, s: np.ndarray, step: int, cd_before: float | None, start: float
) -> tuple[Evaluation, RemeshRecord]:
    """After a mesh was generated for `s` (m,) at outer step `step` (`remesh`): `s` moved to the nearest
    design that meets the constraints as the new mesh's boundary measures them (`nearest_feasible`),
    solved there with its adjoint (one FEM solve), and the record (`cd_before`: the objective on the old
    mesh, None if never solved there; seconds since `start`)."""
    projected, feasible = J.space.nearest_feasible(s)
    evaluation = J.evaluate(projected if feasible else s)
    record = RemeshRecord(
        iteration=step,
        s=s.tolist(),
        reason=remesh.reason,
        cells=remesh.cells,
        dofs=remesh.dofs,
        mesh_sha256=remesh.mesh_sha256,
        cd_before=cd_before,
        cd_after=evaluation.objective,
        kkt_residual=J.space.kkt_residual(evaluation.s, evaluation.gradient),
        seconds=time.perf_counter() - start,
    )
    return evaluation, record


def may_remesh(
    J: ReducedFunctional,
    settings: TrustRegionSettings,
    trial: Trial,
    s: np.ndarray,
    remeshed: np.ndarray | None,
) -> bool:
    """Whether the loop regenerates the mesh at the iterate s (m,) after `trial`: the trial shape was
    refused on the quality floor or the map's reach (`mesh_refusal`), remeshing is on, the flow is
    plane, and the mesh was not generated for s already, nor s the iterate `remeshed` (m,) of the last
    remesh (then a nearer mesh cannot exist, and the radius shrinks as for any refusal)."""
    return (
        trial.remesh_reason is not None
        and settings.remesh
        and not J.problem.case.domain.flow.revolution
        and not np.array_equal(J.problem.morph.fitted, s)
        and not (remeshed is not None and np.array_equal(remeshed, s))
    )


def _stop(settings: TrustRegionSettings, step: int, radius: float, kkt: float) -> tuple[str, bool] | None:
    """(message, converged) if the loop stops at outer step `step`, else None."""
    if kkt <= settings.kkt_tolerance:
        return f"FEM first-order criterion met (KKT residual {kkt:.1e})", True
    if radius < settings.min_radius or step == settings.max_steps:
        return f"stopped: trust radius {radius:.1e}, KKT residual {kkt:.1e}", False
    return None


def _shape_limit(history: list[TrustStep]) -> str:
    """What stopped an unconverged loop where its last trial shapes were refused for their shape, in
    words to append to its message; "" for other stops."""
    notes = {entry.note for entry in history[-3:]}
    if SPLIT_NOTE in notes:
        return (
            f"; the optimizer would split a body (its waist reaches r/r0 = {MIN_RADIUS_RATIO}, "
            "where a star-shaped outline stops being a simple curve): no such body holds the optimum"
        )
    if REACH_NOTE in notes or BEYOND_REACH_NOTE in notes:
        return (
            "; a body reaches out towards its mesh map's radius (5 D, or 0.25 D short of the nearest other "
            "body), which each generated mesh lets it approach half-way and none lets it pass: the optimum "
            "lies beyond it"
        )
    return ""


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
    remeshes: list[RemeshRecord]


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
        return model.sr1_update(trial.s, trial.gradient)


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
    last = Trial(current, state, None, settings.radius, True, note="start")
    # B_k is computed only once the loop goes on from the iterate (an exact Hessian costs about two solves)
    pending_curvature: Callable[[], np.ndarray] | None = functools.partial(curvature.first, current)
    hessian = np.zeros((0, 0))
    history: list[TrustStep] = []
    remeshes: list[RemeshRecord] = []
    remeshed: np.ndarray | None = None  # the iterate of the last remesh
    refused = 0
    for step in itertools.count():  # `_stop` ends it at step `settings.max_steps` at the latest
        surrogate_cd, surrogate_gradient = surrogate(current.s)
        kkt = J.space.kkt_residual(current.s, current.gradient)
        history.append(
            TrustStep(
                iteration=step,
                s=current.s.tolist(),
                cd=current.objective,
                surrogate_cd=surrogate_cd,
                model_cd=current.objective,
                radius=last.radius,
                ratio=last.ratio,
                accepted=last.accepted,
                violation=J.space.violation(current.s),
                kkt_residual=kkt,
                fem_solves=J.problem.fem_solves,
                seconds=time.perf_counter() - start,
                note=last.note,
            )
        )
        if progress is not None:
            progress(history[-1])
        stop = _stop(settings, step, last.radius, kkt)
        if stop is not None:
            message, converged = stop
            return Refined(
                final=current,
                state=state,
                history=history,
                message=message if converged else message + _shape_limit(history),
                converged=converged,
                refused=refused,
                remeshes=remeshes,
            )
        if pending_curvature is not None:
            hessian, pending_curvature = pending_curvature(), None
        model = CorrectedModel(surrogate, current, surrogate_cd, surrogate_gradient, hessian)
        radius = last.radius
        last = try_step(J, settings, model, radius, verified)
        if may_remesh(J, settings, last, current.s, remeshed):
            current, state, record = remesh_iterate(J, current, step, last.remesh_reason, verified)
            remeshes.append(record)
            remeshed = current.s
            pending_curvature = functools.partial(curvature.first, current)
            last = Trial(current, state, None, radius, True, note=f"remeshed: {record.cells} cells")
            continue
        refused += last.refused
        if last.evaluation is not None:
            pending_curvature = functools.partial(curvature.after, model, last.evaluation, last.accepted)
        if last.accepted:
            current, state = last.evaluation, last.state
