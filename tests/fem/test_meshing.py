"""Meshes: deterministic content hash, markers present, curved body boundary."""

from __future__ import annotations

import numpy as np

from shapeopt.cases import load_case
from shapeopt.fem.gather import body_outline
from shapeopt.fem.meshing import BODY, INLET, OUTLET, WALLS, build_mesh
from tests.helpers import CASES


def test_mesh_is_deterministic_and_levels_differ():
    case = load_case(CASES / "dfg-2d1.toml").with_overrides(level="coarse")
    first, second = build_mesh(case), build_mesh(case)
    assert first.sha256 == second.sha256
    assert np.array_equal(first.mesh.geometry.x, second.mesh.geometry.x)
    assert build_mesh(case.with_overrides(level="medium")).sha256 != first.sha256


def test_body_is_curved_and_markers_exist():
    case = load_case(CASES / "cylinder-re1.toml").with_overrides(level="coarse")
    flow_mesh = build_mesh(case)
    assert flow_mesh.mesh.geometry.cmaps[0].degree == 2
    for marker in (INLET, OUTLET, WALLS, BODY):
        assert len(flow_mesh.facets.find(marker)) > 0
    # Edge mid-nodes lie on the circle too: every boundary node is at radius 0.5.
    outline = body_outline(flow_mesh)
    radii = np.linalg.norm(outline, axis=1)
    assert np.allclose(radii, 0.5, atol=1e-12)


def test_stored_reference_mesh_round_trip(tmp_path, monkeypatch):
    import shapeopt.fem.meshing as meshing

    monkeypatch.setattr(meshing, "MESH_DIR", tmp_path)
    case = load_case(CASES / "cylinder-re5.toml").with_overrides(level="coarse")
    generated = build_mesh(case, store=True)
    path = meshing.reference_mesh_path(case)
    assert path.parent == tmp_path and path.is_file()
    loaded = build_mesh(case)
    assert loaded.sha256 == generated.sha256
    assert np.array_equal(loaded.mesh.geometry.x, generated.mesh.geometry.x)
    assert len(loaded.facets.find(BODY)) == len(generated.facets.find(BODY))
