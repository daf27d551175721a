"""`shapeopt solve` from the shell: JSON output, run-directory contents, picture."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.helpers import CASES, shapeopt_command


@pytest.mark.slow
def test_solve_json_and_outputs(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        shapeopt_command(
            "solve", str(CASES / "cylinder-re10.toml"), "--level", "coarse", "--json", "--out", str(out)
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    for key in ("cd", "cl", "dofs", "newton_iterations", "seconds", "cd_surface", "mesh_sha256"):
        assert key in result
    assert result["level"] == "coarse" and result["pressure_drop"] is None
    # Circle at Re 10: C_D ≈ 2.8 in an unbounded domain (Tritton 1959; Dennis & Chang 1970: 2.85);
    # our 80 D box and coarse mesh stay within 5%.
    assert abs(result["cd"] / 2.85 - 1) < 0.05
    assert abs(result["cl"]) < 1e-3

    summary = json.loads((out / "summary.json").read_text())
    assert summary["result"]["cd"] == result["cd"] and summary["case"]["re"] == 10.0
    assert (out / "velocity.bp").is_dir() and (out / "pressure.bp").is_dir()
    png = (out / "flow.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.slow
def test_solve_text_and_reynolds_override():
    proc = subprocess.run(
        shapeopt_command("solve", str(CASES / "dfg-2d1.toml"), "--level", "coarse", "--re", "10"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Re 10" in proc.stdout and "C_D" in proc.stdout and "Δp" in proc.stdout
    assert "Newton iterations" in proc.stdout
