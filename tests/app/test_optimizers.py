"""The registry of `optimize --method`: every method named, one progress-line format."""

from __future__ import annotations

import dataclasses

import pytest

from shapeopt.app.optimizers import OPTIMIZERS, optimizer, progress_line
from shapeopt.design.results import Iteration, TrustStep
from shapeopt.errors import CaseError

TRUST = TrustStep(2, [0.0], 1.25, 1.5, 1.25, 0.05, 0.8, True, 0.0, 3e-5, 7, 12.34)
SHRUNK = dataclasses.replace(TRUST, ratio=None, accepted=False, note="no model decrease")
SLSQP = Iteration(2, [0.0], 1.25, 0.1, 1e-9, 0.0123, 3e-5, 7, 12.34)


def test_the_registry_names_the_methods_of_optimize():
    assert list(OPTIMIZERS) == ["newton", "slsqp", "surrogate"]
    assert [name for name, o in OPTIMIZERS.items() if o.uses_surrogate] == ["surrogate"]
    with pytest.raises(CaseError, match="unknown optimization method 'bfgs'"):
        optimizer("bfgs")


@pytest.mark.parametrize(
    "method, step, middle",
    [
        ("newton", TRUST, "radius 5.0e-02  ratio 0.80"),
        ("surrogate", TRUST, "surrogate 1.50000000  radius 5.0e-02  ratio 0.80"),
        ("newton", SHRUNK, "radius 5.0e-02  no model decrease"),  # no trial solved: why, never "ratio nan"
        ("slsqp", SLSQP, "violation 1.0e-09  |dC_D/ds| 1.23e-02"),
    ],
)
def test_every_progress_line_has_one_format(method, step, middle):
    assert progress_line(method, step) == (
        f"iter   2  C_D 1.25000000  {middle}  KKT 3.0e-05  FEM solves 7  12.3 s"
    )
