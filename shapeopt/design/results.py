"""What the optimizers report: their iterates (`Iteration` of SLSQP, `TrustStep` of the trust region), the
surrogate search (`SearchReport`) and the whole run (`OptimizationResult`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from shapeopt.design.functional import ShapeSummary
from shapeopt.space.base import FEASIBILITY_TOLERANCE


@dataclass(frozen=True)
class Iteration:
    """One optimizer iteration: FEM C_D, constraint violation, gradient norms, work so far."""

    iteration: int
    s: list[float]
    cd: float
    cl: float
    violation: float
    gradient_norm: float
    kkt_residual: float
    fem_solves: int
    seconds: float


@dataclass(frozen=True)
class TrustStep:
    """One outer step: FEM, surrogate and corrected-model C_D at the iterate, radius, ratio, work so far
    (`surrogate_cd` is 0 for the Newton method, whose model is the FEM Taylor expansion alone). `ratio`
    is the last trial's actual over predicted reduction, None where no trial was solved (the start, no
    model decrease, a model step off the constraints, a refused shape); `note` says which, or why."""

    iteration: int
    s: list[float]
    cd: float
    surrogate_cd: float
    model_cd: float
    radius: float
    ratio: float | None
    accepted: bool
    violation: float
    kkt_residual: float
    fem_solves: int
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class RemeshRecord:
    """A mesh generated for the iterate of outer step `iteration` (its shape `s`) because a trial shape
    would have distorted the old one, or for a start the old one cannot follow (`reason`): its cells and
    DOFs, its hash, the objective at the iterate on the old (None: never solved there) and the new mesh
    (their difference is the discretisation's, `jump`), the KKT residual on the new mesh, and the seconds
    to mesh, carry the state over and solve there."""

    iteration: int
    s: list[float]
    reason: str
    cells: int
    dofs: int
    mesh_sha256: str
    cd_before: float | None
    cd_after: float
    kkt_residual: float
    seconds: float

    @property
    def jump(self) -> float | None:
        """The relative change of the objective at the same shape, new mesh against old (None: no old)."""
        return None if self.cd_before is None else self.cd_after / self.cd_before - 1

    def to_dict(self) -> dict:
        """Plain data for JSON, with the `jump`."""
        return dataclasses.asdict(self) | {"jump": self.jump}


@dataclass(frozen=True)
class SearchReport:
    """What the surrogate search did: designs drawn, those feasible (all queried), the best surrogate C_D,
    the seconds of the global search; `extra`: surrogate queries and the multistart's best C_D."""

    drawn: int
    feasible: int
    best_cd: float
    seconds: float
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizationResult:
    """Initial and final shapes with FEM coefficients, the history, and why the optimizer stopped.

    `history` holds `Iteration`s (adjoint) or `TrustStep`s (newton, surrogate); `search` the surrogate
    search's report (`SearchReport` as a dict; empty otherwise); `refused` counts trial shapes the mesh
    could not follow or Newton could not solve; `remeshes` the meshes generated for shapes the map could
    not follow further (`RemeshRecord.to_dict`; the final shape is solved on the last); `seconds` is
    wall time. `final_state` is the FEM state w (local DOFs, float64) at the final shape, for its flow
    picture; it is not part of `to_dict`.
    `feasible` says whether the final shape meets the constraints (`final.violation` at most
    `FEASIBILITY_TOLERANCE`); one that does not is never converged, and its message says so
    (`__post_init__`, whichever optimizer made it).
    """

    method: str
    initial: ShapeSummary
    final: ShapeSummary
    history: list[Iteration | TrustStep] = field(default_factory=list)
    message: str = ""
    converged: bool = False
    refused: int = 0
    search: dict = field(default_factory=dict)
    fem_solves: int = 0
    adjoint_solves: int = 0
    hessians: int = 0  # exact FEM Hessians (method newton)
    seconds: float = 0.0
    refit: dict = field(default_factory=dict)  # `--refit`: dataset, samples appended, test metrics after
    remeshes: list[dict] = field(default_factory=list)  # meshes generated on the way (`RemeshRecord`)
    final_state: np.ndarray | None = field(default=None, repr=False, compare=False)
    feasible: bool = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "feasible", bool(self.final.violation <= FEASIBILITY_TOLERANCE))
        if not self.feasible:
            note = infeasible_note(self.final.violation)
            object.__setattr__(self, "converged", False)
            if note not in self.message:  # `dataclasses.replace` runs this again
                object.__setattr__(self, "message", f"{self.message}; {note}" if self.message else note)

    def to_dict(self) -> dict:
        """Plain data for JSON (`final_state` left out)."""
        data = dataclasses.asdict(dataclasses.replace(self, final_state=None))
        del data["final_state"]
        return data | {"initial": self.initial.to_dict(), "final": self.final.to_dict()}


def infeasible_note(violation: float) -> str:
    """What a result says of a final shape that breaks the constraints by `violation`."""
    return (
        f"the final shape is infeasible: it breaks the constraints by {violation:.1e} "
        f"(tolerance {FEASIBILITY_TOLERANCE:.0e}); not an optimum"
    )
