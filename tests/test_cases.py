"""Case files: the schema accepts the shipped cases and rejects bad ones with one clear line."""

from __future__ import annotations

import dataclasses
import subprocess
import tomllib

import numpy as np
import pytest

from shapeopt.cases import (
    Constraints,
    Domain,
    Objective,
    OptimizeSettings,
    ShapeSettings,
    SolverSettings,
    case_from_dict,
    load_case,
    parse_case,
)
from shapeopt.cli import main
from shapeopt.designs import parameter_spec, sample_identity
from shapeopt.errors import CaseError
from shapeopt.flows import FLOWS
from surrogates.spec import ParameterSpec
from tests.helpers import CASES, shapeopt_command

GOOD = """
name = "t"
[domain]
kind = "freestream"
[flow]
re = 10
"""


@pytest.mark.parametrize("path", sorted(CASES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_cases_are_valid(path):
    case = load_case(path)
    assert case.re > 0
    assert case.domain.kind in FLOWS


def test_defaults_and_overrides(write_case):
    case = load_case(write_case(GOOD))
    assert (case.domain.upstream, case.domain.half_width, case.level) == (40.0, 40.0, "medium")
    changed = case.with_overrides(re=5, level="coarse")
    assert (changed.re, changed.level, case.re) == (5.0, "coarse", 10.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "speed = 3\n", "unknown key 'flow.speed'"),
        (
            GOOD.replace("re = 10", 're = "ten"'),
            "'flow.re' must be a number or a [low, high] range, got str 'ten'",
        ),
        (GOOD.replace("re = 10", "re = true"), "'flow.re' must be a number"),
        (GOOD.replace("re = 10", "re = 0"), "'flow.re' must be a finite number > 0, got 0"),
        (GOOD.replace("re = 10", "re = [40, 1]"), "range must satisfy 0 < low < high"),
        (GOOD.replace("re = 10", "re = [1, 2, 3]"), "range must be two numbers"),
        (GOOD.replace("re = 10", "re = -5.0"), "'flow.re' must be a finite number > 0, got -5.0"),
        (GOOD.replace('"freestream"', '"lake"'), "unknown domain kind 'lake'"),
        (GOOD + "[solver]\nmax_iterations = 2.5\n", "'solver.max_iterations' must be an integer"),
        (GOOD + "[extras]\na = 1\n", "unknown section [extras]"),
        (GOOD.replace("[flow]\nre = 10", ""), "missing required key 'flow.re'"),
        ("[domain\nkind=", "not valid TOML"),
        (GOOD.replace("re = 10", "re = 10\n[mesh]\nlevel = 'huge'"), "mesh.level 'huge' is not one of"),
        (
            GOOD + "[objective]\nlift_weight = 1e300\n",
            "'objective.lift_weight' must be in [-1000, 1000] (beyond it the drag is lost",
        ),
        (GOOD + "[objective]\nre_range = [40, 5]\n", "'objective.re_range' must satisfy low < high"),
        (GOOD + "[objective]\nre_range = [5, 5]\n", "'objective.re_range' must satisfy low < high"),
        (GOOD + "[objective]\nre_range = [0, 5]\n", "'objective.re_range' must be a finite number > 0"),
        (GOOD + "[objective]\nre_range = [5, 1e9]\n", "'objective.re_range' must lie from 1e-06 to 1e+06"),
        (GOOD + "[objective]\nre_range = [5]\n", "'objective.re_range' must be two numbers"),
        (
            GOOD + "[objective]\nre_range = [5, 40]\nweight = 'flat'\n",
            "unknown objective.weight 'flat' (expected one of uniform-log, uniform)",
        ),
        (
            GOOD + "[objective]\nre_range = [5, 40]\npoints_count = 0\n",
            "'objective.points_count' must be in [1, 16]",
        ),
        (
            GOOD + "[objective]\npoints_count = 4\n",
            "'objective.points_count' applies with 'objective.re_range'",
        ),
        (
            GOOD + "[objective]\npoints = [[5, 0], [40, 0]]\n",
            "'objective.points' weights must be ≥ 0 and sum to a positive number",
        ),
        (
            GOOD + "[objective]\npoints = [[5, 1], [40, -2]]\n",
            "'objective.points' weights must be ≥ 0 and sum to a positive number",
        ),
        (GOOD + "[objective]\npoints = []\n", "'objective.points' must be 1 to 16 [re, weight] pairs"),
        (GOOD + "[objective]\npoints = [[-5, 1], [40, 1]]\n", "'objective.points' must be a finite number"),
        (GOOD + "[objective]\nre_range = [5, 40]\ngoal = 'best'\n", "unknown objective.goal 'best'"),
        (GOOD + "[objective]\ngoal = 'worst-regret'\n", "needs an operating range"),
        (
            GOOD + "[objective]\nre_range = [5, 40]\ngoal = 'worst-regret'\npoints_count = 1\n",
            "needs points_count ≥ 2 (both ends), got 1",
        ),
        (
            GOOD + "[objective]\npoints = [[5, 1]]\nre_range = [5, 40]\n",
            "'objective.points' gives the Reynolds numbers itself: leave out re_range",
        ),
        (
            GOOD + "[shape]\nparametrisation = 'bspline'\nmodes = 16\nknot_stretch = 1e12\n",
            "'shape.knot_stretch' must be in [0.1, 10] (knot intervals span a factor stretch²",
        ),
    ],
)
def test_bad_case_is_one_line_and_exit_code_2(write_case, capsys, text, expected):
    path = write_case(text)
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1 and err.startswith("shapeopt: error: ")


@pytest.mark.parametrize(
    ("objective", "method", "expected"),
    [
        ("re_range = [40, 5]", "newton", "'objective.re_range' must satisfy low < high"),
        ("points = [[5, 1], [40, -1]]", "slsqp", "weights must be ≥ 0 and sum to a positive number"),
        ("re_range = [5, 40]\ngoal = 'worst-regret'", "surrogate", "not yet by --method surrogate"),
    ],
)
def test_optimize_refuses_a_bad_operating_range_and_writes_nothing(
    write_case, tmp_path, capsys, objective, method, expected
):
    out = tmp_path / "run"
    (tmp_path / "any.pt").write_bytes(b"")  # the goal is refused before the surrogate is read
    extra = ["--surrogate", str(tmp_path / "any.pt")] if method == "surrogate" else []
    path = write_case(GOOD + f"[objective]\n{objective}\n")
    assert main(["optimize", str(path), "--method", method, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not out.exists()


SECTIONS = {
    "domain": Domain,
    "solver": SolverSettings,
    "shape": ShapeSettings,
    "constraints": Constraints,
    "optimize": OptimizeSettings,
    "objective": Objective,
}
# A cap on work, harmless at any size (a Python integer into SciPy's loop).
UNLIMITED = {("optimize", "max_iterations")}
NUMBERS = [("flow", "re")] + [
    (section, field.name)
    for section, settings in SECTIONS.items()
    for field in dataclasses.fields(settings)
    if field.type in ("float", "int") and (section, field.name) not in UNLIMITED
]


@pytest.mark.parametrize("huge", [1e300, -1e300, 2**62], ids=["1e300", "-1e300", "2^62"])
@pytest.mark.parametrize("section, key", NUMBERS, ids=lambda v: v)
def test_no_number_of_a_case_overflows_or_collapses_unchecked(section, key, huge):
    """Every number a case file may give has an upper limit (and a lower one where any sign is allowed):
    1e300, -1e300 or 2^62 in any of them is one line naming the key, before any work; no setting of
    the schema can overflow, hang the mesher or collapse the basis without an error."""
    raw = tomllib.loads((CASES / "cylinder-re5.toml").read_text())  # B-splines: knot_stretch applies
    if isinstance(getattr(SECTIONS.get(section), key, 0.0), int) and not isinstance(huge, int):
        pytest.skip("integer keys take integers")
    raw.setdefault(section, {})[key] = huge
    with pytest.raises(CaseError, match=rf"'?{section}\.{key}'? ") as refused:
        parse_case(raw)
    assert "\n" not in str(refused.value)


def test_every_problem_is_reported_together(write_case, capsys):
    path = write_case(GOOD.replace("re = 10", "re = -1\nfoo = 2"))
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'flow.re' must be a finite number > 0" in err and "unknown key 'flow.foo'" in err


@pytest.mark.slow
def test_missing_file_from_the_shell_has_no_traceback(tmp_path):
    missing = tmp_path / "nope.toml"
    proc = subprocess.run(shapeopt_command("solve", str(missing)), capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"shapeopt: error: case file not found: {missing}"
    assert "Traceback" not in proc.stderr


def test_reynolds_range(write_case):
    case = load_case(write_case(GOOD.replace("re = 10", "re = [1, 40]")))
    assert case.re_range == (1.0, 40.0) and abs(case.re - 40**0.5) < 1e-12


def test_bad_override_is_rejected(capsys):
    assert main(["solve", str(CASES / "cylinder-re1.toml"), "--re", "-3"]) == 2
    assert "'re' must be a finite number > 0" in capsys.readouterr().err


def test_a_knot_stretch_is_part_of_the_parameter_spec(write_case):
    """Stretched knots make the same s another shape: datasets and surrogates of uniform knots are refused;
    a uniform spec is written as before the stretch existed, so older files still match."""
    wide = (CASES / "wide-re1-40.toml").read_text()  # knots uniform in θ (the least-drag cases stretch them)
    uniform = parameter_spec(load_case(CASES / "wide-re1-40.toml"))
    stretched = parameter_spec(load_case(write_case(wide.replace("min_quality = 0.1", "knot_stretch = 3.0"))))
    assert "stretch" not in uniform.to_dict() and stretched.to_dict()["stretch"] == 3.0
    assert ParameterSpec.from_dict(uniform.to_dict()) == uniform
    assert stretched.differences(uniform) == ["parametrisation stretch 3.0 ≠ 1.0"]
    fourier = (CASES / "fourier4-re40.toml").read_text().replace("min_quality = 0.1", "knot_stretch = 2.0")
    assert main(["solve", str(write_case(fourier, "f.toml"))]) == 2


def test_an_operating_range_reads_back_and_leaves_other_objectives_as_they_were(write_case):
    """An operating range survives `Case.to_dict` → `case_from_dict`; an objective without one is saved
    (and identifies dataset samples) with its two keys only, as before operating ranges existed."""
    case = load_case(CASES / "cylinder-re5-40-range.toml")
    assert case.objective.describe() == "mean C_D over Re 5–40 (4 points, uniform in ln Re)"
    assert case_from_dict(case.to_dict()) == case
    re, weights = case.objective.quadrature()
    assert re.shape == weights.shape == (4,) and abs(weights.sum() - 1) < 1e-15
    assert 5 < re[0] < re[-1] < 40 and abs(np.log(re).mean() - np.log(np.sqrt(5 * 40))) < 1e-12
    points = load_case(write_case(GOOD + "[objective]\nbody = 0\npoints = [[40, 1], [5, 3]]\n"))
    assert case_from_dict(points.to_dict()) == points
    assert np.allclose(points.objective.quadrature(), [[5, 40], [0.75, 0.25]])
    lift = dataclasses.replace(case, objective=Objective(lift_weight=0.5))
    assert lift.to_dict()["objective"] == {"body": 0, "lift_weight": 0.5}
    assert sample_identity(lift)["objective"] == {"body": 0, "lift_weight": 0.5}
    assert "objective" not in sample_identity(dataclasses.replace(case, objective=Objective()))
    assert sample_identity(case)["objective"]["re_range"] == [5.0, 40.0]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_workers_are_for_an_operating_range_only(write_case, tmp_path, capsys, workers):
    out = tmp_path / "run"
    assert main(["optimize", str(write_case(GOOD)), "--workers", workers, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--workers {workers}: give 1 or more" in err and err.count("\n") == 1
    assert not out.exists()
