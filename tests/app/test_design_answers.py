"""Learned answers on the FEM side: exact projection, the solver's Newton targets, the `design` command.

A small designer is trained on the coarse mesh of `fourier4-re40.toml` from three circles (not optima: the
plumbing is under test here, the answers' quality in `bench/designer.py`) and one PG round of two fresh
conditions, so that it holds local models and predicts gaps.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from shapeopt.app.atlas_starts import Conditions, case_for
from shapeopt.app.design_answers import Designer
from shapeopt.app.designer import AtlasOptima, DesignerModel
from shapeopt.app.designer_physics import FEMDesignPhysics, space_for
from shapeopt.app.path_surrogate import Steering, surrogate_minimum, train_on_atlas
from shapeopt.app.surrogate_route import SurrogateRoute
from shapeopt.cases import load_case
from shapeopt.cli import main
from shapeopt.fem import MPI
from shapeopt.fem.problem import DragProblem
from surrogates.designer_training import DesignerTraining
from surrogates.path_training import PathTraining
from tests.helpers import CASES

CASE = CASES / "fourier4-re40.toml"
CONDITIONS = np.array([[3.0, 0.95, 0.0], [8.0, 1.05, 0.45], [20.0, 1.0, 0.3]])


@pytest.fixture(scope="module")
def coarse_case():
    return dataclasses.replace(load_case(CASE), level="coarse")


@pytest.fixture(scope="module")
def model_file(coarse_case, tmp_path_factory):
    seed_conditions = np.array([[2.0, 0.9, 0.0], [5.0, 1.0, 0.5], [10.0, 1.1, 0.0]])
    with DragProblem(case_for(coarse_case, Conditions(5.0, 1.0, 0.0)), MPI.COMM_SELF) as problem:
        physics = FEMDesignPhysics(problem)
        seed = AtlasOptima(seed_conditions, physics.answer(seed_conditions, np.zeros((3, problem.size))), 0)
        settings = DesignerTraining(method="pg", rounds=1, per_round=2, fit_iterations=30)
        model, record = DesignerModel.train(problem, seed, settings, np.random.default_rng(0), members=2)
    assert record.solves == [2] and record.hessians == [2] and model.meta["fem_solves"] == 2
    path = tmp_path_factory.mktemp("designer") / "designer.pt"
    model.save(path)
    return path


def test_answers_are_admissible_for_their_conditions_and_come_with_a_gap(coarse_case, model_file):
    with Designer(coarse_case, model_file) as designer:
        shapes, gaps = designer.answers(CONDITIONS)
        for c, s in zip(CONDITIONS, shapes, strict=True):
            space = designer.physics.space(Conditions(*c))
            assert space.feasible(s), c
            assert np.min(space.thickness(s)[0], initial=0.0) >= -1e-9  # chords ≥ the least thickness
        assert designer.problem.fem_solves == 0
    assert np.all(np.isfinite(gaps)) and np.all(gaps >= 0)


def test_a_newton_target_of_the_solver_is_nearer_to_stationarity(coarse_case):
    """From the circle at Re 5 with a thickness of 0.9 D (active), one constrained Newton step on the
    exact Hessian cuts the stationarity residual: quadratic convergence from a start this far is not
    expected, a large cut is."""
    conditions = np.array([[5.0, 1.0, 0.9]])
    with DragProblem(case_for(coarse_case, Conditions(5.0, 1.0, 0.9)), MPI.COMM_SELF) as problem:
        physics = FEMDesignPhysics(problem)
        start = physics.answer(conditions, np.zeros((1, problem.size)))
        before = physics.local(conditions, start, hessian=True)
        after = physics.local(conditions, before.newton, hessian=False)
    assert np.max(np.abs(after.residual)) < 0.2 * np.max(np.abs(before.residual))
    drop = (before.objective - after.objective) / before.objective
    assert drop[0] > 0 and abs(drop[0] / before.model_gap[0] - 1) < 0.3  # the model's predicted gap


def test_the_design_command_writes_the_answer_without_a_solve(model_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["design", str(CASE), "--level", "coarse", "--re", "8", "--area-ratio", "1.05"]
    code = main([*argv, "--min-thickness", "0.45", "--model", str(model_file), "--json", "--out", str(out)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fem_solves"] == 0 and summary["verified"] is None and summary["predicted_gap"] >= 0
    shape = json.loads((out / "shape.json").read_text())
    assert shape["s"] == summary["s"] and shape["cd"] is None and abs(shape["area_ratio"] - 1.05) < 1e-9
    assert {p.name for p in out.iterdir()} == {
        "design.json",
        "shape.json",
        "outline.csv",
        "outline.dat",
        "shapes.png",
    }


def test_design_verify_takes_newton_from_the_answer_to_the_fem_optimum(model_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["design", str(CASE), "--level", "coarse", "--re", "3", "--area-ratio", "0.95", "--model"]
    code = main([*argv, str(model_file), "--verify", "--gap-tolerance", "0", "--json", "--out", str(out)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verified"] == "newton" and summary["converged"] and summary["kkt"] <= 1e-5
    assert summary["gap"] >= -1e-12 and summary["fem_solves"] >= 1
    run = json.loads((out / "summary.json").read_text())
    assert run["final"]["cd"] == summary["cd"] and (out / "flow.png").is_file()


def test_atlas_designer_fills_the_grid_as_design_does_verifies_a_sample_and_resumes(
    model_file, tmp_path, capsys
):
    grid = ["--re", "3,8", "--area-ratio", "1", "--min-thickness", "0", "--model", str(model_file)]
    assert (
        main(["design", str(CASE), "--level", "coarse", *grid, "--json", "--out", str(tmp_path / "d")]) == 0
    )
    design = json.loads(capsys.readouterr().out)
    argv = ["atlas", str(CASE), "--level", "coarse", *grid[:6], "--designer", str(model_file)]
    argv += ["--verify-sample", "1", "--json", "--out", str(tmp_path / "a")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    atlas = json.loads(captured.out)
    assert len(captured.err.strip().splitlines()) == 2  # a progress line per condition
    assert [row["s"] for row in atlas["rows"]] == [row["s"] for row in design["rows"]]  # one function
    verified = [row for row in atlas["rows"] if row.get("verified") == "newton"]
    assert len(verified) == 1 and verified[0]["converged"] and verified[0]["kkt"] <= 1e-5
    assert verified[0]["gap"] >= -1e-12 and verified[0]["cd"] <= verified[0]["cd_answer"]
    assert sum(row["fem_solves"] for row in atlas["rows"]) == verified[0]["fem_solves"] >= 1
    folders = {p.name for p in (tmp_path / "a").iterdir()}
    assert folders == {p.name for p in (tmp_path / "d").iterdir()}  # the folders design writes
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").glob("*/design.json")}
    assert main(argv) == 0  # a rerun reads every condition back
    assert json.loads(capsys.readouterr().out) == atlas
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "a").glob("*/design.json")} == written


@pytest.mark.parametrize(
    "options, message",
    [
        (["--re", "100"], "Re 100 is outside the designer's range [1, 40]"),
        (["--min-thickness", "0.8"], "min thickness 0.8 is outside the designer's range [0, 0.5]"),
        (["--gap-tolerance", "-1"], "--gap-tolerance must be ≥ 0"),
    ],
)
def test_bad_conditions_are_refused_in_one_line_before_anything_is_written(
    model_file, tmp_path, capsys, options, message
):
    out = tmp_path / "run"
    argv = ["design", str(CASE), "--level", "coarse", "--model", str(model_file), "--out", str(out), *options]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_a_file_that_is_no_designer_is_refused_in_one_line(tmp_path, capsys):
    other = tmp_path / "other.pt"
    other.write_bytes(b"not a designer")
    assert (
        main(["design", str(CASE), "--level", "coarse", "--model", str(other), "--out", str(tmp_path / "r")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read the designer" in err[0], err


def fake_atlas(folder, conditions: np.ndarray, size: int) -> None:
    """An atlas folder as `shapeopt atlas` leaves it, holding the circle (s = 0) as every optimum."""
    rows = [
        {"re": re, "area_ratio": a, "min_thickness": t, "fem_solves": 2, "reference_solves": 1}
        for re, a, t in conditions
    ]
    for row in rows:
        problem = folder / "problems" / Conditions.of_row(row).name
        problem.mkdir(parents=True)
        (problem / "summary.json").write_text(json.dumps({"row": row, "final": {"s": [0.0] * size}}))
    (folder / "atlas.json").write_text(json.dumps({"rows": rows}))


def test_train_designer_fits_an_atlas_and_design_answers_from_it(tmp_path, capsys):
    atlas = tmp_path / "atlas"
    fake_atlas(atlas, np.array([[2.0, 1.0, 0.0], [10.0, 1.0, 0.0], [30.0, 1.0, 0.0]]), 9)
    model = tmp_path / "d.pt"
    argv = ["train-designer", str(CASE), "--level", "coarse", "--atlas", str(atlas), "--method", "supervised"]
    assert main([*argv, "--members", "1", "--json", "--out", str(model)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fem_solves"] == 9 and summary["hessians"] == 0  # the atlas's, counted whole
    out = tmp_path / "run"
    assert (
        main(
            ["design", str(CASE), "--level", "coarse", "--re", "5", "--model", str(model), "--out", str(out)]
        )
        == 0
    )
    answer = json.loads((out / "shape.json").read_text())
    assert np.max(np.abs(answer["s"])) < 1e-5  # the circle everywhere (to the fit's residual)
    assert json.loads((out / "design.json").read_text())["predicted_gap"] is None  # no local models


def test_train_designer_refuses_a_folder_that_is_no_atlas_in_one_line(tmp_path, capsys):
    argv = [
        "train-designer",
        str(CASE),
        "--level",
        "coarse",
        "--atlas",
        str(tmp_path),
        "--out",
        str(tmp_path / "d.pt"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a finished atlas" in err[0], err
    assert not (tmp_path / "d.pt").exists()


def test_the_shipped_designer_answers_for_the_default_design_space():
    """`shapeopt/models/`: trained by PG (steered) from a 12-problem atlas, 99 FEM solves in all; its
    answers are admissible and its predicted gaps small inside its ranges (the measured gaps:
    docs/learned-answers.md)."""
    with Designer(load_case(CASES / "cylinder-re40.toml")) as designer:
        assert designer.model.meta["method"] == "pg" and designer.model.meta["fem_solves"] == 99
        shapes, gaps = designer.answers(CONDITIONS)
        for c, s in zip(CONDITIONS, shapes, strict=True):
            assert designer.physics.space(Conditions(*c)).feasible(s), c
    assert np.all(gaps < 1e-4), gaps


def test_train_path_labels_an_atlas_steers_and_its_minimum_is_searched_from_its_shapes(tmp_path, capsys):
    """`train-path` on three circles (plumbing; the answers' quality in bench/path_surrogate.py): FEM solves
    counted whole (the atlas's 9, 3 labels with Hessians, 3 × 2 off-design labels, 1 steered); the file
    loads as a surrogate that knows the shapes it saw, which the surrogate route searches from, and its
    minimum for a condition is admissible there."""
    atlas = tmp_path / "atlas"
    fake_atlas(atlas, np.array([[2.0, 1.0, 0.0], [10.0, 1.0, 0.0], [30.0, 1.0, 0.0]]), 9)
    model = tmp_path / "path.pt"
    argv = [
        "train-path",
        str(CASE),
        "--level",
        "coarse",
        "--atlas",
        str(atlas),
        "--rounds",
        "1",
        "--method",
        "pg",
    ]
    assert main([*argv, "--per-round", "1", "--fit-steps", "20", "--json", "--out", str(model)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fem_solves"] == 9 + 3 + 6 + 1 and summary["hessians"] == 3 + 1
    route = SurrogateRoute.open(model)
    assert route.trained_designs().shape == (3, 9)  # the circle, the steered minimum, its Newton target
    condition = np.array([[4.0, 1.05, 0.3]])
    with DragProblem(load_case(CASE).with_overrides(level="coarse"), MPI.COMM_SELF) as problem:
        space = space_for(problem.space, Conditions(*condition[0]))
        (answer,) = surrogate_minimum(route.model, problem.space, condition)
        assert space.feasible(answer)


def test_a_stopped_train_path_resumes_from_its_kept_labels_without_a_solve(tmp_path, coarse_case):
    """Stopped after its one round's labels were kept, a rerun reads them back: no FEM solve, the same
    FEM count and the same trained network."""
    atlas = AtlasOptima(np.array([[2.0, 1.0, 0.0], [30.0, 1.0, 0.0]]), np.zeros((2, 9)), 4)
    kept = tmp_path / ".path.pt.recover"
    training, steering = PathTraining(steps=10, lbfgs=10), Steering("sobolev", rounds=1, per_round=1)

    def stop(done, surrogate, record):
        raise KeyboardInterrupt

    with DragProblem(case_for(coarse_case, Conditions(2.0, 1.0, 0.0)), MPI.COMM_SELF) as problem:
        with pytest.raises(KeyboardInterrupt):
            train_on_atlas(problem, atlas, training, steering, 0, stop, kept)
        solved = problem.fem_solves
        first = train_on_atlas(problem, atlas, training, steering, 0, kept=kept)
        assert problem.fem_solves == solved  # nothing solved again
        second = train_on_atlas(problem, atlas, training, steering, 0, kept=kept)
    assert first[1]["fem_solves"] == second[1]["fem_solves"] == 4 + 2 + 2 + 1
    s = np.zeros((1, 9))
    assert first[0].drag(s, 5.0) == pytest.approx(second[0].drag(s, 5.0), rel=1e-12)
