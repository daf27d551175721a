"""The FEM Newton optimizer: a trust region on the exact second-order Taylor model of the drag.

At the FEM iterate s_k, `m_k(s) = C_k + ∇C_k·d + ½ dᵀ H_k d` (d = s − s_k) with the adjoint gradient and the
exact Hessian H_k = d²C_D/ds² (`shapeopt.fem.hessian`: m tangent-linear back-substitutions on Newton's
last factorisation, no new one) is minimised under the exact constraints inside `|d|_∞ ≤ Δ_k`; the ratio
of actual to predicted reduction accepts the step and sets Δ (`trust_region.refine`). The constraints'
own curvature enters through the exact constraints of the subproblem, so the steps are Newton steps on
the constraint manifold and converge quadratically near the optimum. It stops on the FEM first-order
criterion (KKT residual).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from shapeopt.design.functional import ReducedFunctional
from shapeopt.design.results import OptimizationResult, TrustStep
from shapeopt.design.trust_region import (
    ExactCurvature,
    TrustRegionSettings,
    evaluate_start,
    no_surrogate,
    refine,
)

# Newton steps may be long far from the optimum (the circle to a slender body moves coefficients by ~1).
NEWTON_SETTINGS = TrustRegionSettings(radius=0.5, max_radius=4.0, kkt_tolerance=1e-5)


def optimize_newton(
    J: ReducedFunctional,
    s0: np.ndarray | None = None,
    progress: Callable[[TrustStep], None] | None = None,
    settings: TrustRegionSettings = NEWTON_SETTINGS,
) -> OptimizationResult:
    """Minimise the FEM drag `J` under its constraints by the Newton trust region from `s0` (m,)
    (default: the case's shape, s = 0), made feasible first (`DesignSpace.feasible_start`: the circle
    dilated to another area ratio). `progress` gets each `TrustStep`."""
    start = time.perf_counter()
    problem = J.problem
    s0, _ = J.space.feasible_start(np.zeros(J.size) if s0 is None else s0)
    initial, start_remesh = evaluate_start(J, s0)
    refined = refine(J, no_surrogate, settings, initial, ExactCurvature(J), progress, start=start)
    return OptimizationResult(
        method="newton",
        initial=J.shape_summary(initial),
        final=J.shape_summary(refined.final),
        history=refined.history,
        message=refined.message,
        converged=refined.converged,
        refused=refined.refused,
        fem_solves=problem.fem_solves,
        adjoint_solves=problem.adjoint_solves,
        hessians=problem.hessians,
        seconds=time.perf_counter() - start,
        final_state=refined.state,
        remeshes=[record.to_dict() for record in [start_remesh, *refined.remeshes] if record is not None],
    )
