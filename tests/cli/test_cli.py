"""`shapeopt solve` from the shell: JSON output, run-directory contents, picture."""

from __future__ import annotations

import json
import subprocess

import pytest

from shapeopt.cli import build_parser, main
from shapeopt.cli.atlas_command import newton_folder
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
def test_solve_text_and_reynolds_override(capsys):
    assert main(["solve", str(CASES / "dfg-2d1.toml"), "--level", "coarse", "--re", "10"]) == 0
    printed = capsys.readouterr().out
    assert "Re 10" in printed and "C_D" in printed and "Δp" in printed
    assert "Newton iterations" in printed


def test_former_option_names_still_work_and_say_their_new_names_in_one_line(tmp_path, capsys):
    """`--method adjoint` is SLSQP (`slsqp`) and `--compare-adjoint` runs Newton (`--compare-newton`): the
    former names are taken with a one-line note; an atlas written before keeps its Newton route's folder."""
    case = str(CASES / "cylinder-re40.toml")
    args = build_parser().parse_args(["optimize", case, "--method", "adjoint", "--out", str(tmp_path)])
    assert args.method == "slsqp"
    assert capsys.readouterr().err == "shapeopt: note: --method adjoint is now called --method slsqp\n"
    atlas = ["atlas", case, "--re", "5", "--out", str(tmp_path)]
    assert build_parser().parse_args([*atlas, "--compare-adjoint"]).compare_newton
    assert capsys.readouterr().err == "shapeopt: note: --compare-adjoint is now called --compare-newton\n"
    assert not build_parser().parse_args(atlas).compare_newton and not capsys.readouterr().err
    assert newton_folder(tmp_path) == tmp_path / "newton"
    (tmp_path / "adjoint").mkdir()
    assert newton_folder(tmp_path) == tmp_path / "adjoint"
