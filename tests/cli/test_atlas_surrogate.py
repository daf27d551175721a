"""`atlas --surrogate`: each problem started from a trained surrogate's optimum, the surrogate refit on its
own verified samples in a copy, and with `--compare-newton` both routes counted side by side."""

from __future__ import annotations

import json
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

import surrogates
from shapeopt.app.atlas_compare import break_even, cumulative
from shapeopt.app.atlas_surrogate import file_sha256, setup_cost
from shapeopt.cli import main
from shapeopt.cli.atlas_command import child_failure
from shapeopt.errors import CaseError
from tests.cli.test_atlas import atlas_args, run_in_process
from tests.helpers import RANGE_CASE, write_synthetic_dataset

GRID = ("--re", "2,5", "--area-ratio", "1")


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    """A surrogate of the range case (10 coarse samples, trained 5 s), an atlas of Re 2 and 5 by the
    surrogate route with refits, compared with the Newton route, and the same command run again."""
    root = tmp_path_factory.mktemp("routes")
    data, model = root / "data.h5", root / "model.pt"
    level = ("--level", "coarse")
    assert main(["dataset", RANGE_CASE, *level, "--samples", "10", "--out", str(data)]) == 0
    assert (
        main(["train", RANGE_CASE, *level, "--data", str(data), "--out", str(model), "--budget-seconds", "5"])
        == 0
    )
    before = {path: file_sha256(path) for path in (data, model)}
    out = root / "atlas"
    args = atlas_args(
        out, *GRID, "--surrogate", str(model), "--refit", "--refit-seconds", "1", "--compare-newton"
    )
    args[1] = RANGE_CASE
    first = run_in_process([*args, "--json"])
    again = run_in_process(args)
    return SimpleNamespace(
        root=root, data=data, model=model, before=before, out=out, args=args, first=first, again=again
    )


@pytest.mark.slow
def test_the_surrogate_route_reaches_the_newton_optima_and_every_solve_is_counted(routes):
    assert routes.first.code == 0, routes.first.stderr[-2000:]
    printed = json.loads(routes.first.stdout)
    table = json.loads((routes.out / "atlas.json").read_text())
    newton = json.loads((routes.out / "newton" / "atlas.json").read_text())
    comparison = json.loads((routes.out / "comparison.json").read_text())
    assert (
        printed["comparison"] == comparison and table["route"] == "surrogate" and newton["route"] == "newton"
    )
    assert {row["warm_start"] for row in table["rows"]} == {"surrogate"}
    assert all(row["converged"] and row["kkt"] <= 1e-5 for row in table["rows"] + newton["rows"])
    assert comparison["max_cd_difference"] <= 1e-6  # the same optima, each at an FEM KKT point
    # Everything counted: the dataset's 10 solves first, then each problem's solves with its reference.
    assert table["setup"]["dataset_solves"] == 10 and table["setup"]["training_seconds"] > 0
    assert table["setup"]["training_solves"] == 0  # sobolev trains on the dataset alone
    solves = comparison["curves"]["surrogate_solves"]
    per_problem = [row["fem_solves"] + row["reference_solves"] for row in table["rows"]]
    assert solves == [10, 10 + per_problem[0], 10 + sum(per_problem)]
    newton_solves = [row["fem_solves"] + row["reference_solves"] for row in newton["rows"]]
    assert comparison["curves"]["newton_solves"] == [0, newton_solves[0], sum(newton_solves)]
    seconds = comparison["curves"]["surrogate_seconds"]
    assert seconds[0] == pytest.approx(table["setup"]["dataset_seconds"] + table["setup"]["training_seconds"])
    assert seconds[-1] - seconds[0] == pytest.approx(
        sum(row["seconds"] + row["reference_seconds"] + row["refit_seconds"] for row in table["rows"])
    )
    assert (routes.out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert "surrogate route against Newton (warm), 2 problems" in run_in_process([*routes.args]).stdout


@pytest.mark.slow
def test_refits_grow_copies_and_leave_the_users_files_as_they_were(routes):
    table = json.loads((routes.out / "atlas.json").read_text())
    assert {path: file_sha256(path) for path in routes.before} == routes.before
    assert all(row["refit_seconds"] > 0 for row in table["rows"])
    with h5py.File(routes.out / "dataset.h5", "r") as f:  # 10 samples, then one per verified solve
        assert f["committed"].shape[0] == 10 + sum(row["fem_solves"] for row in table["rows"])
    tuned = surrogates.load(routes.out / "surrogate.pt")
    original = surrogates.load(routes.model)
    s = np.zeros((1, tuned.net.n_params))
    assert not np.allclose(tuned.drag(s, 3.0), original.drag(s, 3.0), rtol=0, atol=1e-12)


@pytest.mark.slow
def test_a_rerun_skips_every_problem_and_another_surrogate_is_refused(routes, tmp_path):
    assert routes.again.code == 0
    assert sum("skipped" in line for line in routes.again.stderr.splitlines()) == 4  # both routes
    other = tmp_path / "other.pt"
    model = surrogates.load(routes.model)
    model.meta = model.meta | {"note": "another surrogate"}
    model.save(other)
    args = [*routes.args]
    args[args.index("--surrogate") + 1] = str(other)
    refused = run_in_process(args)
    assert refused.code == 2 and refused.stderr.count("\n") == 1
    assert "holds an atlas of other settings (surrogate_sha256" in refused.stderr


@pytest.mark.slow
def test_a_surrogate_of_another_parametrisation_is_refused_before_anything_is_written(routes, tmp_path):
    out = tmp_path / "atlas"
    refused = run_in_process(atlas_args(out, "--re", "5", "--surrogate", str(routes.model)))  # 16 B-spline
    assert refused.code == 2 and refused.stderr.count("\n") == 1
    assert "surrogate does not fit this case" in refused.stderr and not out.exists()


def test_break_even_is_where_the_cumulative_costs_cross_or_setup_over_the_saving():
    newton = cumulative([{"fem_solves": 3}] * 6, 0.0, ("fem_solves",))
    cheaper = cumulative([{"fem_solves": 1}] * 6, 8.0, ("fem_solves",))
    assert newton.tolist() == [0, 3, 6, 9, 12, 15, 18]
    assert break_even(newton, cheaper) == {"problems": 4, "saving_per_problem": 2.0, "projected": 4.0}
    dearer = cumulative([{"fem_solves": 1}] * 6, 20.0, ("fem_solves",))
    assert break_even(newton, dearer) == {"problems": None, "saving_per_problem": 2.0, "projected": 10.0}
    worse = cumulative([{"fem_solves": 4}] * 6, 1.0, ("fem_solves",))
    assert break_even(newton, worse)["projected"] is None


@pytest.mark.slow
def test_two_workers_run_the_newton_route_beside_the_surrogate_route(routes, tmp_path):
    out = tmp_path / "atlas"
    args = atlas_args(out, *GRID, "--surrogate", str(routes.model), "--compare-newton", "--workers", "2")
    args[1] = RANGE_CASE
    both = run_in_process([*args, "--json"])
    assert both.code == 0, both.stderr[-2000:]
    comparison = json.loads(both.stdout)["comparison"]
    assert comparison["max_cd_difference"] <= 1e-6 and comparison["problems"] == 2
    newton = json.loads((out / "newton" / "atlas.json").read_text())
    assert [row["cd"] for row in newton["rows"]] == pytest.approx(
        [row["cd"] for row in json.loads((routes.out / "newton" / "atlas.json").read_text())["rows"]],
        rel=1e-9,
    )
    assert "Traceback" not in both.stderr


@pytest.mark.parametrize(
    ("exitcode", "code", "words"),
    [
        (-9, 6, "killed (SIGKILL)"),
        (-15, 143, "killed (SIGTERM)"),
        (-2, 130, "killed (SIGINT)"),
        (3, 3, "code 3"),
        (1, 6, "code 1"),
    ],
)
def test_a_newton_route_process_that_ends_badly_gives_an_exit_code_of_the_table(exitcode, code, words):
    """`--workers 2`: the Newton route's process killed (kill -9 gives -9, not in the README's table) or
    ending with an error: the command's exit code is one of the table's, its line says what happened."""
    error = child_failure(exitcode)
    assert error.exit_code == code and words in str(error) and "the same command completes it" in str(error)


def test_the_cost_of_a_surrogate_is_read_from_a_dataset_whose_checksums_hold(tmp_path):
    """`--compare-newton` counts the dataset's solves and seconds: a value changed without its row's
    checksum is refused in one line, as every read of a dataset refuses it."""
    data = tmp_path / "data.h5"
    write_synthetic_dataset(data)
    model = SimpleNamespace(meta={"dataset": str(data)})
    assert setup_cost(model, tmp_path / "s.pt")["dataset_solves"] == 24
    with h5py.File(data, "r+") as f:
        f["seconds"][3] = 1e6
    with pytest.raises(
        CaseError, match=r"--compare-newton: .* is damaged: 1 of 24 samples fail their checksum"
    ):
        setup_cost(model, tmp_path / "s.pt")
