"""The FEM as the designer network sees it: exact projection of answers, and local models at them.

One `DragProblem` (one mesh) serves every condition: the Reynolds number is an argument of the solve and
the area ratio and thickness only change the design space (`space_for`). `FEMDesignPhysics` implements
`surrogates.designer_training.DesignPhysics`: `answer` projects a network's shapes exactly onto each
condition's constraints, `local` solves at a shape (one FEM solve and adjoint; with the exact Hessian, the
constrained Newton step of the trust region's model, `newton_target`).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from shapeopt.app.atlas_starts import Conditions
from shapeopt.design.newton import NEWTON_SETTINGS
from shapeopt.design.trust_region import minimise_model
from shapeopt.fem.problem import DragProblem
from shapeopt.space import DesignSpace
from surrogates.designer_training import LocalModels


def space_for(reference: DesignSpace, conditions: Conditions) -> DesignSpace:
    """The design space of `reference` with the area ratio and least thickness (in D) of `conditions`."""
    return dataclasses.replace(
        reference,
        area_ratio=conditions.area_ratio,
        min_thickness=conditions.min_thickness * 2 * reference.shape.r0,
    )


def conditions_of(array: np.ndarray) -> list[Conditions]:
    """`Conditions` of an array (n, 3) of (Re, area ratio, thickness in D)."""
    return [Conditions(float(re), float(a), float(t)) for re, a, t in np.asarray(array).reshape(-1, 3)]


def projected(space: DesignSpace, raw: np.ndarray) -> np.ndarray:
    """The admissible shape nearest to `raw` (m,) in the Euclidean norm of s: SLSQP on ½|s − raw|² under
    the exact constraints and bounds, from `raw` with its dependent parameters solved for."""
    start, ok = space.project(raw[None, :])
    if ok[0] and space.feasible(start[0]):
        return start[0]
    J = SimpleNamespace(space=space)
    return minimise_model(J, lambda s: (0.5 * float((s - raw) @ (s - raw)), s - raw), start[0])


def newton_target(space: DesignSpace, s: np.ndarray, gradient: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """The shape after one constrained Newton step from `s` (m,): the minimum of the second-order model
    g·d + ½ dᵀ H d under the exact constraints, inside the Newton route's first trust radius."""
    J = SimpleNamespace(space=space)

    def model(x: np.ndarray) -> tuple[float, np.ndarray]:
        d = x - s
        return float(gradient @ d + 0.5 * d @ hessian @ d), gradient + hessian @ d

    return minimise_model(J, model, s, center=s, radius=NEWTON_SETTINGS.radius)


class FEMDesignPhysics:
    """`DesignPhysics` on one `DragProblem`; counts its FEM solves and Hessians in the problem."""

    def __init__(self, problem: DragProblem):
        self.problem = problem
        self.reference = problem.space

    def space(self, conditions: Conditions) -> DesignSpace:
        """The design space of one condition."""
        return space_for(self.reference, conditions)

    def answer(self, conditions: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Shapes (n, m) projected exactly onto the constraints of conditions (n, 3) (`projected`)."""
        return np.array(
            [projected(self.space(c), row) for c, row in zip(conditions_of(conditions), raw, strict=True)]
        )

    def local(self, conditions: np.ndarray, s: np.ndarray, hessian: bool) -> LocalModels:
        """J, stationarity residual and (with `hessian`) the tangent-projected exact Hessian P H P, the
        Newton target and its model's gap at each shape (n, m) of conditions (n, 3)."""
        objective, residual, hessians, targets, gaps, tangents = [], [], [], [], [], []
        for c, shape in zip(conditions_of(conditions), s, strict=True):
            space = self.space(c)
            evaluation = self.problem.evaluate(shape, gradient=True, re=c.re, hessian=hessian)
            stationarity, tangent = space.stationarity(shape, evaluation.gradient)
            objective.append(evaluation.objective)
            residual.append(stationarity)
            if hessian:
                hessians.append(tangent @ evaluation.hessian @ tangent)
                tangents.append(tangent)
                target = newton_target(space, shape, evaluation.gradient, evaluation.hessian)
                d = target - shape
                decrease = -(evaluation.gradient @ d + 0.5 * d @ evaluation.hessian @ d)
                targets.append(target)
                gaps.append(decrease / evaluation.objective)
        return LocalModels(
            s=np.array(s),
            objective=np.array(objective),
            residual=np.array(residual),
            hessian=np.array(hessians) if hessian else None,
            newton=np.array(targets) if hessian else None,
            model_gap=np.array(gaps) if hessian else None,
            tangent=np.array(tangents) if hessian else None,
        )
