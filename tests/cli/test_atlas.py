"""`atlas` from the shell: the least-drag body for every combination of conditions, warm-started from its
neighbours, resumed after an interruption, and bad input refused in one line."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure

from shapeopt.app.atlas import COLUMNS as ATLAS_COLUMNS
from shapeopt.app.atlas import LOCK, atlas_record, check_atlas_folder
from shapeopt.app.atlas_starts import Conditions, dilated, warm_start
from shapeopt.cases import load_case
from shapeopt.cli import main
from shapeopt.data.verified import append_verified
from shapeopt.errors import CaseError
from shapeopt.fem.problem import DragProblem
from shapeopt.geometry.shapes import RadialShape
from surrogates.datafile import read_dataset, read_identity
from surrogates.writer_lock import WriterLock
from tests.helpers import (
    CASES,
    shapeopt_command,
    started_interruptible,
    wait_for_line,
    write_synthetic_dataset,
)

CASE = str(CASES / "cylinder-re5.toml")
GRID = ("--re", "2,5", "--area-ratio", "1,1.1")
COLUMNS = [
    "re",
    "area_ratio",
    "min_thickness",
    "cd",
    "cd_circle",
    "change",
    "length_height",
    "front_angle",
    "rear_angle",
    "kkt",
    "fem_solves",
    "reference_solves",
    "seconds",
    "reference_seconds",
    "refit_seconds",
    "converged",
    "warm_start",
]


def atlas_args(out: Path, *options: str, case: str = CASE) -> list[str]:
    return ["atlas", case, "--level", "coarse", *options, "--out", str(out)]


def run_in_process(args: list[str]) -> SimpleNamespace:
    """`shapeopt ARGS` in this process: exit code, stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(args)
    return SimpleNamespace(code=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


def summaries(out: Path) -> dict[str, Path]:
    return {path.parent.name: path for path in (out / "problems").glob("*/summary.json")}


def by_conditions(rows: list[dict]) -> dict[tuple, dict]:
    return {(row["re"], row["area_ratio"], row["min_thickness"]): row for row in rows}


def stopped_after(args: list[str], fragment: str, sig: int) -> SimpleNamespace:
    """`shapeopt ARGS` as a process sent `sig` when a line with `fragment` appears on its stderr: its exit
    code and stderr."""
    proc = started_interruptible(shapeopt_command(*args))
    try:
        lines = wait_for_line(proc, fragment)
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return SimpleNamespace(code=proc.returncode, stderr="".join(lines) + rest)


@pytest.fixture(scope="module")
def atlases(tmp_path_factory):
    """A warm atlas of the 2 × 2 grid made in two runs (Re 2, 5 at area ratio 1 first, then the whole
    grid), and a cold one killed (kill -9) after its first problem, run again and stopped by Ctrl-C after
    the next one, and run to the end."""
    root = tmp_path_factory.mktemp("atlas")
    warm, cold = root / "warm", root / "cold"
    first = run_in_process(atlas_args(warm, "--re", "2,5", "--area-ratio", "1"))
    before = {name: path.stat().st_mtime_ns for name, path in summaries(warm).items()}
    grown = run_in_process(atlas_args(warm, *GRID, "--json"))

    killed = stopped_after(atlas_args(cold, *GRID, "--cold"), "[1/4]", signal.SIGKILL)
    killed.kept = set(summaries(cold))
    interrupted = stopped_after(atlas_args(cold, *GRID, "--cold"), "FEM solves", signal.SIGINT)
    interrupted.kept = set(summaries(cold))
    abandoned = cold / "problems" / ".re5-area1.1-thick0.partial-999999999"  # as kill -9 may leave one
    abandoned.mkdir()
    (abandoned / "outline.csv").write_text("x,y\n")
    resumed = run_in_process(atlas_args(cold, *GRID, "--cold", "--json"))
    return SimpleNamespace(
        warm=warm,
        cold=cold,
        first=first,
        before=before,
        grown=grown,
        killed=killed,
        interrupted=interrupted,
        resumed=resumed,
        abandoned=abandoned,
    )


@pytest.mark.slow
def test_one_converged_row_per_problem_in_the_table_and_files(atlases):
    assert atlases.first.code == atlases.grown.code == atlases.resumed.code == 0
    for out in (atlases.warm, atlases.cold):
        with (out / "atlas.csv").open() as stream:
            reader = csv.DictReader(stream)
            assert reader.fieldnames == COLUMNS
            csv_rows = list(reader)
        table = json.loads((out / "atlas.json").read_text())
        rows = table["rows"]
        assert table["columns"] == COLUMNS and len(rows) == len(csv_rows) == 4
        assert set(by_conditions(rows)) == {(re, a, 0.0) for re in (2.0, 5.0) for a in (1.0, 1.1)}
        assert all(row["converged"] and row["kkt"] <= 1e-5 for row in rows)
        assert all(row["converged"] == "true" and float(row["kkt"]) <= 1e-5 for row in csv_rows)
        assert table["totals"]["converged"] == table["totals"]["problems"] == 4
        for row in rows:
            assert row["cd"] < row["cd_circle"] and row["length_height"] > 2
            assert abs(row["change"] - (row["cd"] / row["cd_circle"] - 1)) < 1e-12
        for name, path in summaries(out).items():
            summary = json.loads(path.read_text())
            constraints = summary["case"]["constraints"]
            assert name == f"re{summary['row']['re']:g}-area{constraints['area_ratio']:g}-thick0"
            assert summary["final"]["cd"] == summary["row"]["cd"] and summary["case"]["level"] == "coarse"
            assert abs(summary["final"]["area_ratio"] / constraints["area_ratio"] - 1) < 1e-9
            assert (path.parent / "outline.csv").read_text().startswith("# case: cylinder-re5")
        for picture in ("cd.png", "slenderness.png", "outlines.png"):
            assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
    printed = json.loads(atlases.grown.stdout)
    assert printed["rows"] == json.loads((atlases.warm / "atlas.json").read_text())["rows"]


@pytest.mark.slow
def test_warm_started_rows_reach_the_cold_optima_with_fewer_fem_solves(atlases):
    warm = json.loads((atlases.warm / "atlas.json").read_text())
    cold = json.loads((atlases.cold / "atlas.json").read_text())
    assert warm["start"] == "warm" and cold["start"] == "cold"
    cold_rows = by_conditions(cold["rows"])
    for key, row in by_conditions(warm["rows"]).items():
        assert abs(row["cd"] / cold_rows[key]["cd"] - 1) <= 1e-7, key
        assert abs(row["cd_circle"] / cold_rows[key]["cd_circle"] - 1) <= 1e-7, key
    assert {row["warm_start"] for row in cold["rows"]} == {"circle"}
    assert sum(row["reference_solves"] for row in cold["rows"]) == 0
    started_warm = [row for row in warm["rows"] if row["warm_start"] != "circle"]
    assert len(started_warm) == 3  # the first problem starts from the circle
    assert warm["totals"]["fem_solves"] < cold["totals"]["fem_solves"]
    # The circle's drag is solved once per Re, apart from the optimizations: Re 2 started there.
    assert warm["totals"]["reference_solves"] == 1


@pytest.mark.slow
def test_a_grown_grid_skips_the_problems_finished_before(atlases):
    assert "2 problems, 2 converged" in atlases.first.stdout
    assert set(atlases.before) == {"re2-area1-thick0", "re5-area1-thick0"}
    after = {name: path.stat().st_mtime_ns for name, path in summaries(atlases.warm).items()}
    assert {name: after[name] for name in atlases.before} == atlases.before
    assert len(after) == 4
    skipped = [line for line in atlases.grown.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 2 and all("area ratio 1," in line for line in skipped)
    # A grid that leaves a finished problem out is refused, before any work.
    refused = run_in_process(atlas_args(atlases.warm, "--re", "2", "--area-ratio", "1,1.1"))
    assert refused.code == 2 and "outside this grid (re5-area1-thick0, re5-area1.1-thick0)" in refused.stderr
    # So is a cold atlas into a warm one's folder.
    refused = run_in_process(atlas_args(atlases.warm, *GRID, "--cold"))
    assert refused.code == 2 and "start 'warm' there, 'cold' here" in refused.stderr


@pytest.mark.slow
def test_a_killed_or_interrupted_atlas_keeps_its_finished_problems_and_a_rerun_completes_it(atlases):
    killed, interrupted = atlases.killed, atlases.interrupted
    assert killed.code == -signal.SIGKILL and 1 <= len(killed.kept) < 4
    skipped = [line for line in interrupted.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == len(killed.kept) and killed.kept < interrupted.kept
    assert interrupted.code == 130
    errors = [line for line in interrupted.stderr.splitlines() if line.startswith("shapeopt: error:")]
    assert errors == [
        f"shapeopt: error: interrupted; {len(interrupted.kept)} of 4 problems are finished in "
        f"{atlases.cold}; the same command completes the atlas"
    ]
    assert "Traceback" not in interrupted.stderr
    skipped = [line for line in atlases.resumed.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == len(interrupted.kept)
    assert len(summaries(atlases.cold)) == 4 and not atlases.abandoned.exists()
    assert json.loads(atlases.resumed.stdout)["totals"]["problems"] == 4


BAD = [
    (["--re", "1,x"], "argument --re: expected comma-separated Reynolds numbers, got 'x' in '1,x'"),
    (["--re", ""], "argument --re: expected comma-separated Reynolds numbers, got nothing"),
    (["--re", "2,"], "got '' in '2,'"),
    (["--re", "0,5"], "argument --re: Reynolds numbers must be finite and > 0, got 0"),
    (["--re=-5"], "Reynolds numbers must be finite and > 0, got -5"),
    (["--re", "inf"], "Reynolds numbers must be finite and > 0, got inf"),
    (["--re", "1e-300,2"], "Reynolds numbers must lie from 1e-06 to 1e+06, got 1e-300"),
    (["--re", "5,2e6"], "Reynolds numbers must lie from 1e-06 to 1e+06, got 2e+06"),
    (["--re", "2,5,2"], "2 is listed twice in '2,5,2'"),
    (["--re", "5", "--area-ratio", "0"], "argument --area-ratio: area ratios must be finite and > 0, got 0"),
    (["--re", "5", "--area-ratio", "nan"], "area ratios must be finite and > 0, got nan"),
    (["--re", "5", "--min-thickness=-0.1"], "minimum thicknesses must be finite and ≥ 0, got -0.1"),
    (
        ["--re", "5", "--area-ratio", "100"],
        "'constraints.area_ratio' 100 cannot be reached inside the bounds",
    ),
    (["--re", "5", "--min-thickness", "1.2"], "'constraints.min_thickness' 1.2 must lie in [0, 1)"),
    (["--area-ratio", "1"], "the following arguments are required: --re"),
    (["--re", "5", "--refit"], "--refit needs --surrogate FILE"),
    (["--re", "5", "--compare-newton"], "--compare-newton needs --surrogate FILE"),
    (["--re", "5", "--surrogate", "missing.pt"], "surrogate file not found: missing.pt"),
    (["--re", "5", "--surrogate", "m.pt", "--refit-seconds", "0"], "seconds must be finite and > 0, got 0"),
    (["--re", "5", "--workers", "3"], "argument --workers: expected 1 or 2, got '3'"),
    (
        ["--re", "5", "--surrogate", __file__, "--workers", "2"],
        "--workers 2 needs --compare-newton",
    ),  # a file
    (
        ["--re", "5", "--designer", "--surrogate", __file__, "--refit"],
        "--designer answers without the FEM routes: not with --surrogate, --refit",
    ),
    (["--re", "5", "--designer", "--cold", "--workers", "1"], "not with --cold, --workers"),
    (["--re", "5", "--designer", "--refit-seconds", "2"], "not with --refit-seconds"),
    (["--re", "5", "--verify-sample", "1"], "--verify-sample needs --designer"),
    (["--re", "5", "--designer", "--verify-sample", "2"], "--verify-sample 2: at most the 1 conditions"),
]


@pytest.mark.parametrize(("options", "message"), BAD, ids=[" ".join(row[0]) or "empty" for row in BAD])
def test_bad_input_is_refused_in_one_line_before_any_work(tmp_path, capsys, options, message):
    out = tmp_path / "atlas"
    assert main(atlas_args(out, *options)) == 2
    err = capsys.readouterr().err
    assert err.startswith("shapeopt: error: ") and err.count("\n") == 1, err
    assert message in err and not out.exists()


def test_a_range_case_takes_only_re_within_its_range(tmp_path, capsys):
    out = tmp_path / "atlas"
    args = atlas_args(out, "--re", "0.5,2,50", case=str(CASES / "cylinder-re1-40.toml"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == "shapeopt: error: --re 0.5, 50 outside the case's Re range [1, 40]\n"
    assert not out.exists()


def test_an_output_folder_of_other_files_or_another_atlas_is_refused(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("a plain file\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not an atlas\n")
    medium = tmp_path / "medium"
    medium.mkdir()
    (medium / "atlas-case.json").write_text(json.dumps({"case": {}, "level": "medium", "start": "warm"}))
    for out, message in (
        (tmp_path / "file.txt", "is a file; give a folder"),
        (other, "is a folder of other files, not an atlas"),
        (medium, "holds an atlas of other settings (level 'medium' there, 'coarse' here; case.name missing"),
    ):
        assert main(atlas_args(out, "--re", "5")) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("shape", [RadialShape("bspline", 16, stretch=3.0), RadialShape("fourier", 4)])
def test_a_start_for_another_area_ratio_is_the_optimum_dilated(shape):
    """Warm starts across area ratios keep the shape and scale it: every radius times the factor."""
    s = np.random.default_rng(0).uniform(-0.2, 0.2, shape.size)
    theta = np.linspace(0.0, 2 * np.pi, 50)
    assert np.allclose(shape.radius(theta, dilated(shape, s, 1.05)), 1.05 * shape.radius(theta, s))


@pytest.fixture(scope="module")
def space5():
    with DragProblem(load_case(CASE).with_overrides(level="coarse")) as problem:
        yield problem.space


def test_a_start_along_re_extrapolates_the_two_nearest_optima_on_its_line(space5):
    """Optima on a smooth path in ln Re: the start extrapolated from two is second-order accurate, the
    nearest alone first-order; an optimum of another area ratio is not extrapolated from."""
    direction = 0.02 * np.random.default_rng(1).standard_normal(space5.size)

    def optimum(re: float) -> np.ndarray:
        s, ok = space5.project((math.log(re) * direction)[None, :])
        assert ok[0]
        return s[0]

    found = {f"re{re:g}": (Conditions(re, 1.0, 0.0), optimum(re)) for re in (1.0, 2.0, 4.0)}
    for step in (2.0, 1.5):
        target = Conditions(4.0 * step, 1.0, 0.0)
        start, source = warm_start(space5, target, found)
        assert source == "re4+re2"
        errors = np.abs(start - optimum(target.re)).max(), np.abs(found["re4"][1] - optimum(target.re)).max()
        assert errors[0] < 0.1 * errors[1], (step, errors)
    other = Conditions(8.0, 1.1, 0.0)  # nearest is off its line: the nearest optimum, dilated
    assert warm_start(space5, other, found)[1] == "re4"


@pytest.mark.slow
def test_an_atlas_written_before_the_refit_column_resumes(atlases, tmp_path):
    out = tmp_path / "older"
    shutil.copytree(atlases.warm, out)
    for path in summaries(out).values():  # rows as an atlas wrote them before refits existed
        summary = json.loads(path.read_text())
        del summary["row"]["refit_seconds"]
        path.write_text(json.dumps(summary))
    resumed = run_in_process(atlas_args(out, *GRID, "--json"))
    assert resumed.code == 0, resumed.stderr[-2000:]
    assert all(row["refit_seconds"] == 0.0 for row in json.loads(resumed.stdout)["rows"])


def two_equidistant_optima(space, seed: int) -> tuple[dict, Conditions, np.ndarray]:
    """Two admissible random designs found at Re 2 and 8 (area ratio 1.1), the conditions at Re 4 and area
    ratio 1 that lie as near to one as to the other, and a third admissible design (all three: (3, m))."""
    projected, ok = space.project(0.02 * np.random.default_rng(seed).standard_normal((3, space.size)))
    assert ok.all()
    found = {
        "re2": (Conditions(2.0, 1.1, 0.0), projected[0]),
        "re8": (Conditions(8.0, 1.1, 0.0), projected[1]),
    }
    return found, Conditions(4.0, 1.0, 0.0), projected


def test_equidistant_neighbours_give_one_start_whatever_order_they_were_found_in(space5):
    """Two optima as near as each other (Re 2 and 8 for Re 4 at another area ratio; Re 2 and 8 on the
    line of Re 4 as the second optimum to extrapolate with): the start is the same in either order."""
    found, target, projected = two_equidistant_optima(space5, seed=2)
    orders = (found.items(), reversed(found.items()))
    sources = {warm_start(space5, target, dict(order))[1] for order in orders}
    assert sources == {"re2"}
    line = {name: (Conditions(c.re, 1.0, 0.0), s) for name, (c, s) in found.items()}
    line["re4"] = (Conditions(4.0, 1.0, 0.0), projected[2])
    target = Conditions(5.0, 1.0, 0.0)
    orders = (line.items(), reversed(line.items()))
    sources = {warm_start(space5, target, dict(order))[1] for order in orders}
    assert sources == {"re4+re2"}


def finished_atlas(out: Path, size: int, case: str = CASE) -> Path:
    """An atlas folder of the coarse `case`, warm, with one finished problem (Re 5, area ratio 1) made by
    hand; returns its summary.json."""
    base = load_case(case).with_overrides(level="coarse")
    folder = out / "problems" / Conditions(5.0, 1.0, 0.0).name
    folder.mkdir(parents=True)
    (out / "atlas-case.json").write_text(json.dumps(atlas_record(base, cold=False)))
    row = {key: 1.0 for key in ATLAS_COLUMNS} | {"re": 5.0, "min_thickness": 0.0, "fem_solves": 3}
    row |= {"reference_solves": 0, "converged": True, "warm_start": "circle"}
    summary = folder / "summary.json"
    summary.write_text(json.dumps({"row": row, "final": {"s": [0.0] * size}}))
    theta = np.linspace(0.0, 2 * np.pi, 33)
    points = "\n".join(f"{0.5 * math.cos(a)},{0.5 * math.sin(a)}" for a in theta)
    (folder / "outline.csv").write_text("x,y\n" + points + "\n")
    return summary


DAMAGED_SUMMARIES = [
    (lambda d: d["row"].update(cd=float("nan")), "cd nan is not a finite number"),
    (lambda d: d["row"].update(re="x"), "re 'x' is not a finite number"),
    (lambda d: d["row"].update(re=2.0), "its row holds Re 2, area ratio 1, min thickness 0, not the"),
    (lambda d: d["row"].pop("kkt"), "its row lacks kkt"),
    (lambda d: d["row"].update(converged="yes"), "converged 'yes' is not true or false"),
    (lambda d: d["row"].update(fem_solves=-1), "fem_solves -1 is not a count"),
    (lambda d: d["final"].update(s=[0.0]), "its final s is not 16 finite numbers"),
    (lambda d: d["final"].update(s=None), "its final s is not 16 finite numbers"),
]


@pytest.mark.parametrize(("damage", "message"), DAMAGED_SUMMARIES)
def test_a_damaged_finished_problem_is_refused_in_one_line_before_any_work(tmp_path, capsys, damage, message):
    """A finished problem's summary.json read back with C_D NaN, a non-number Re, conditions of another
    folder, a missing column or an `s` of the wrong length: refused, exit 2, nothing written."""
    out = tmp_path / "atlas"
    summary = finished_atlas(out, 16)
    data = json.loads(summary.read_text())
    damage(data)
    summary.write_text(json.dumps(data))
    before = sorted(p.name for p in out.rglob("*"))
    assert main(atlas_args(out, "--re", "5")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "is damaged" in err, err
    assert sorted(p.name for p in out.rglob("*")) == before


def test_problems_or_the_newton_route_folder_as_a_file_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "atlas"
    finished_atlas(out, 16)
    shutil.rmtree(out / "problems")
    (out / "problems").write_text("a file\n")
    assert main(atlas_args(out, "--re", "5")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out / 'problems'} is not a folder" in err, err
    (out / "newton").write_text("a file\n")  # --compare-newton's folder: checked as the atlas's own
    base, grid = load_case(CASE).with_overrides(level="coarse"), [Conditions(5.0, 1.0, 0.0)]
    with pytest.raises(CaseError, match="atlas/newton is not a folder"):
        check_atlas_folder(out / "newton", base, grid, cold=False)


def test_a_full_disk_or_a_damaged_outline_while_the_pictures_are_written_is_one_line(
    tmp_path, capsys, monkeypatch
):
    """A full disk while a picture is written: one line (exit 2) naming the finished problems, no
    truncated picture and no temporary file; the same command completes the atlas. A damaged outline.csv
    of a finished problem: one line naming it."""
    out = tmp_path / "atlas"
    finished_atlas(out, 16)
    real = Figure.savefig

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG")  # a picture cut short
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(Figure, "savefig", full_disk)
    assert main(atlas_args(out, "--re", "5")) == 2
    err = capsys.readouterr().err
    assert err.count("shapeopt: error:") == 1 and "No space left on device; 1 of 1 problems are" in err, err
    assert not list(out.glob("*.png")) and not list(out.glob(".*partial*")), sorted(out.iterdir())
    monkeypatch.setattr(Figure, "savefig", real)
    assert main(atlas_args(out, "--re", "5")) == 0
    assert {p.name for p in out.glob("*.png")} == {"cd.png", "slenderness.png", "outlines.png"}
    capsys.readouterr()
    (out / "problems" / Conditions(5.0, 1.0, 0.0).name / "outline.csv").write_text("x,y\n1,a\n")
    assert main(atlas_args(out, "--re", "5")) == 2
    err = capsys.readouterr().err
    assert err.count("shapeopt: error:") == 1 and "outline.csv: not an outline of x, y" in err, err


def test_an_atlas_folder_has_one_writer_and_verified_samples_are_appended_once(tmp_path, capsys):
    """A second atlas on a folder that a live one writes is refused in one line (exit 2), naming it; an
    atlas problem's verified samples are appended to the dataset once, however often it is solved (a
    rerun after kill -9 between the append and the problem's folder)."""
    out = tmp_path / "atlas"
    finished_atlas(out, 16)
    lock = WriterLock(out / LOCK)  # as another atlas's run holds it
    assert main(atlas_args(out, "--re", "5")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the atlas {out} is being written by pid {os.getpid()}" in err, err
    lock.release()
    assert main(atlas_args(out, "--re", "5")) == 0

    data = tmp_path / "data.h5"
    write_synthetic_dataset(data)
    m, n_state = read_dataset(data).s.shape[1], read_dataset(data).state.shape[1]
    row = {"re": 5.0, "cd": 1.0, "cl": 0.0, "seconds": 1.0, "quality": 1.0, "status": 0}
    row |= {"s": np.zeros(m), "dcd": np.ones(m), "dcl": np.zeros(m), "state": np.ones(n_state)}
    before = len(read_dataset(data))
    identity = read_identity(data)
    assert append_verified(data, [row, row], identity, key="re5-area1-thick0") == 2
    assert append_verified(data, [row, row, row], identity, key="re5-area1-thick0") == 0
    assert append_verified(data, [row], identity, key="re2-area1-thick0") == 1
    assert len(read_dataset(data)) == before + 3


def test_an_atlas_of_another_objective_names_it_in_its_table_progress_and_text(tmp_path, capsys):
    """`[objective] lift_weight`: what the column `cd` holds is named in atlas.json, the progress lines
    and the text, not called C_D."""
    case = tmp_path / "lift.toml"
    case.write_text(Path(CASE).read_text() + "\n[objective]\nlift_weight = 0.5\n")
    out = tmp_path / "atlas"
    finished_atlas(out, 16, str(case))
    assert main(atlas_args(out, "--re", "5", case=str(case))) == 0
    captured = capsys.readouterr()
    assert json.loads((out / "atlas.json").read_text())["objective"] == "C_D + 0.5 C_L"
    assert "(C_D + 0.5 C_L 1.000000)" in captured.err and "C_D 1.0" not in captured.err, captured.err
    assert "J = C_D + 0.5 C_L minimised" in captured.out, captured.out


def test_a_start_the_mesh_does_not_take_gives_way_to_the_next(space5):
    """The design space admits a start that the mesh map's cells refuse (their quality): the next start
    is taken, then the nearest halved, then the circle; a rerun finds the same."""
    found, target, _ = two_equidistant_optima(space5, seed=3)
    nearest, _ = warm_start(space5, target, found)
    refused = [nearest]
    start, source = warm_start(space5, target, found, takes=lambda s: not np.allclose(s, refused[0]))
    assert source == "re8"
    start, source = warm_start(space5, target, found, takes=lambda s: not np.any(s))
    assert source == "circle" and not np.any(start)
