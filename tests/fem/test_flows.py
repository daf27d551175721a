"""Every registered flow configuration meshes its case and sets up its solver as it always has."""

from __future__ import annotations

import pytest

from shapeopt.cases import load_case
from shapeopt.fem.flow import FlowSolver
from shapeopt.fem.forces import ForceEvaluator
from shapeopt.fem.meshing import build_mesh
from shapeopt.flows import FLOWS
from tests.helpers import CASES

# kind: (case, unknowns on the coarse mesh, the drag and lift scales 1 / (½ U² D) or the sphere's).
COARSE = {
    "freestream": ("cylinder-re40.toml", 12415, (2.0, 2.0)),
    "dfg-channel": ("dfg-2d1.toml", 10003, (500.0, 500.0)),
    "axisymmetric": ("sphere.toml", 6627, (16.0, 0.0)),
}


def test_every_configuration_has_its_coarse_numbers():
    assert set(COARSE) == set(FLOWS)


@pytest.mark.parametrize("kind", list(COARSE))
def test_each_configuration_meshes_as_before(kind):
    name, dofs, scales = COARSE[kind]
    case = load_case(CASES / name).with_overrides(level="coarse")
    assert case.domain.kind == kind
    flow_mesh = build_mesh(case)
    solver = FlowSolver(flow_mesh, case)
    forces = ForceEvaluator(solver, case.domain.centres)
    assert solver.dofs == dofs and flow_mesh.centers == case.domain.centres
    assert (forces.scale, forces.lift_scale) == pytest.approx(scales, rel=1e-14)
    assert solver.revolution == case.domain.flow.revolution
    solver.destroy()
