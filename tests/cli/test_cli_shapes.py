"""`gradient`, `optimize` and `solve --shape` from the command line (`optimize` and `show`, which draw
with PyVista, in processes of their own)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from shapeopt.cli import main
from tests.helpers import CASES, shapeopt_command


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(shapeopt_command(*args), capture_output=True, text=True, check=check)


@pytest.mark.slow
def test_gradient_check_json(capsys):
    assert (
        main(["gradient", str(CASES / "fourier4-re40.toml"), "--level", "coarse", "--check", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)  # in this process: no picture, nothing written
    assert len(out["dcd_ds"]) == len(out["names"]) == 9
    # Growing the circle uniformly (a0) raises its drag; the symmetric circle has no lift gradient in a0.
    assert out["dcd_ds"][0] > 0 and abs(out["dcl_ds"][0]) < 1e-3
    assert out["taylor"]["cd"]["min_rate"] >= 1.9


@pytest.mark.slow
def test_optimize_then_solve_the_optimized_shape(tmp_path, capsys):
    run = tmp_path / "adj"
    proc = _run(
        "optimize", str(CASES / "cylinder-re5.toml"), "--level", "coarse", "--out", str(run), "--json"
    )
    summary = json.loads(proc.stdout)
    assert summary["converged"] and summary["final"]["cd"] < summary["initial"]["cd"]
    assert "iter" in proc.stderr and "KKT" in proc.stderr  # progress per iteration
    for name in ("shape.json", "summary.json", "history.json", "shapes.png", "history.png", "flow.png"):
        assert (run / name).stat().st_size > 0, name
    assert (run / "iterates.png").stat().st_size > 0
    # The wide design space: the optimum is slender and no bound holds it.
    assert summary["active_bounds"] == [] and summary["length"] > 2 * summary["height"]
    history = json.loads((run / "history.json").read_text())["history"]
    assert history[0]["cd"] == summary["initial"]["cd"] and history[-1]["cd"] == summary["final"]["cd"]

    shape = json.loads((run / "shape.json").read_text())
    argv = [
        "solve",
        str(CASES / "cylinder-re5.toml"),
        "--level",
        "coarse",
        "--shape",
        str(run / "shape.json"),
    ]
    assert main([*argv, "--json"]) == 0  # in this process: the shell's path is the optimize's and show's
    solved = json.loads(capsys.readouterr().out)
    assert abs(solved["cd"] / shape["cd"] - 1) < 1e-8
    assert np.allclose(solved["s"], shape["s"])

    picture = tmp_path / "view" / "show-pressure.png"
    shown = json.loads(
        _run(
            "show",
            str(run),
            "--field",
            "pressure",
            "--level",
            "coarse",
            "--out",
            str(picture.parent),
            "--size",
            "640x360",
            "--json",
        ).stdout
    )
    assert abs(shown["cd"] / shape["cd"] - 1) < 1e-8
    header = picture.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (640, 360)
    assert picture.stat().st_size > 20_000


@pytest.mark.slow
def test_shape_file_for_another_parametrisation_is_refused(tmp_path, capsys):
    bad = tmp_path / "shape.json"
    bad.write_text(json.dumps({"parametrisation": "bspline", "modes": 8, "s": [0.0] * 8}))
    assert main(["solve", str(CASES / "cylinder-re5.toml"), "--level", "coarse", "--shape", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "the case uses bspline with 16 modes" in err and err.count("\n") == 1
