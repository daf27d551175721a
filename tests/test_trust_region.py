"""Trust-region model management: FEM-verified convergence even with a useless surrogate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CASES

from shapeopt.cases import load_case
from shapeopt.dataset import spec_of
from shapeopt.optimize import optimize_adjoint
from shapeopt.problem import DragProblem
from shapeopt.trust_region import TrustRegionSettings, optimize_surrogate
from surrogates import Surrogate
from surrogates.network import DragNet
from surrogates.pod import POD


def random_surrogate(problem: DragProblem, seed: int = 0) -> Surrogate:
    """An untrained network: smooth, O(1), and wrong everywhere (its drag has nothing to do with the flow)."""
    torch.manual_seed(seed)
    net = DragNet(problem.size, 1, width=16, depth=2)
    n = len(problem.solver.w.x.array)
    pod = POD(np.zeros(n), np.zeros((n, 1)), np.ones(n), np.ones(1), 1.0)
    meta = {
        "spec": spec_of(problem),
        "mesh_sha256": problem.flow_mesh.sha256,
        "re_range": [1.0, 100.0],
        "method": "untrained",
    }
    return Surrogate(net, pod, meta)


@pytest.fixture(scope="module")
def problem():
    return DragProblem(load_case(CASES / "cylinder-re40.toml").with_overrides(level="coarse"))


def test_poor_surrogate_still_reaches_the_fem_optimum(problem):
    surrogate = random_surrogate(problem)
    settings = TrustRegionSettings(global_samples=2048, starts=2, max_steps=60)
    result = optimize_surrogate(problem, surrogate, settings)
    assert result.converged, result.message
    assert result.history[-1].kkt_residual <= settings.kkt_tolerance
    assert np.max(np.abs(problem.constraints(np.asarray(result.final["s"]))[0])) < 1e-9
    # The surrogate's own optimum is far from the FEM's; the corrections carry the answer there.
    surrogate_start = result.history[0]
    assert abs(surrogate_start.surrogate_cd - surrogate_start.cd) > 0.05
    reference = optimize_adjoint(DragProblem(problem.case))
    assert abs(result.final["cd"] / reference.final["cd"] - 1) < 1e-5
    assert result.final["cd"] < 0.9 * result.initial["cd"]
