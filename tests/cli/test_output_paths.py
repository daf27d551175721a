"""Output paths: no command writes over one of its inputs (also through links and `..`), an output location
is probed before the work, and a run folder holds one run whole: the earlier one until a new one is
complete, also when the new one is interrupted or fails in the middle (its files are kept beside it)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import surrogates
from shapeopt.app import optimizers, runs
from shapeopt.cases import load_case
from shapeopt.cli import flow_commands, main
from shapeopt.errors import CaseError, InterruptedWorkError, SolverError
from shapeopt.files import check_output_folder, check_run_folder, staged_folder, write_json
from tests.helpers import CASES, RANGE_CASE, run_summary, shapeopt_command

CASE = CASES / "fourier4-re40.toml"


def earlier_run(folder: Path) -> dict[str, str]:
    """Write a complete earlier run into `folder`; return its fingerprint."""
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(run_summary()))
    (folder / "history.json").write_text(json.dumps({"case": "fourier4-re40", "history": [{"cd": 1.0}]}))
    (folder / "shape.json").write_text(json.dumps({"parametrisation": "fourier", "modes": 4, "s": [0.0] * 9}))
    (folder / "iterates.png").write_bytes(b"earlier picture")
    return fingerprint(folder)


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- a run folder holds one run ------------------------------------------------------------------------


def test_a_complete_run_replaces_the_earlier_one_whole(tmp_path):
    out = tmp_path / "run"
    before = earlier_run(out)
    with staged_folder(out) as work:
        (work / "summary.json").write_text("new")
        assert fingerprint(out) == before, "the earlier run stays until the new one is complete"
    assert names(out) == ["summary.json"] and (out / "summary.json").read_text() == "new"
    assert names(tmp_path) == ["run"], "nothing left beside the run"


def test_ctrl_c_keeps_the_earlier_run_and_puts_the_new_files_beside_it(tmp_path):
    out = tmp_path / "run"
    before = earlier_run(out)
    for attempt, kept in ((1, "run.partial"), (2, "run.partial-2")):
        with pytest.raises(InterruptedWorkError) as caught, staged_folder(out) as work:
            (work / "history.json").write_text(f"attempt {attempt}")
            raise KeyboardInterrupt
        assert caught.value.exit_code == 130
        assert str(caught.value) == (
            f"interrupted; the files written so far are kept in {tmp_path.resolve() / kept} "
            f"({out.resolve()} holds the earlier run)"
        )
        assert (tmp_path / kept / "history.json").read_text() == f"attempt {attempt}"
        assert fingerprint(out) == before
    assert names(tmp_path) == ["run", "run.partial", "run.partial-2"]


@pytest.mark.parametrize("existing", [False, True], ids=["new folder", "empty folder"])
def test_ctrl_c_into_a_folder_without_a_run_keeps_the_files_there(tmp_path, existing):
    out = tmp_path / "run"
    if existing:
        out.mkdir()
    with pytest.raises(InterruptedWorkError, match=f"kept in {out.resolve()}$"), staged_folder(out) as work:
        (work / "history.json").write_text("first iterations")
        raise KeyboardInterrupt
    assert names(tmp_path) == ["run"] and names(out) == ["history.json"]


def test_an_interrupt_wrapped_by_a_library_or_with_its_own_exit_code_is_an_interrupt(tmp_path):
    class Stop(KeyboardInterrupt):
        exit_code = 143

    for interrupt, code in ((KeyboardInterrupt(), 130), (Stop(), 143)):
        with pytest.raises(InterruptedWorkError) as caught, staged_folder(tmp_path / f"run{code}") as work:
            (work / "history.json").write_text("x")
            try:
                raise interrupt
            except KeyboardInterrupt as exc:
                raise RuntimeError("error in a PETSc callback") from exc  # as petsc4py wraps it
        assert caught.value.exit_code == code


def test_a_failure_keeps_its_exit_code_and_names_where_the_files_are(tmp_path):
    out = tmp_path / "run"
    before = earlier_run(out)
    with pytest.raises(SolverError) as caught, staged_folder(out) as work:
        (work / "history.json").write_text("three iterations")
        raise SolverError("Newton did not converge")
    assert caught.value.exit_code == 3
    assert str(caught.value).startswith("Newton did not converge; the files written so far are kept in ")
    assert fingerprint(out) == before and (tmp_path / "run.partial" / "history.json").is_file()


def test_a_refusal_before_any_file_leaves_nothing_and_its_message_as_it_was(tmp_path):
    refused = CaseError("shape file not found: s.json")
    with pytest.raises(CaseError) as caught, staged_folder(tmp_path / "run"):
        raise refused
    assert caught.value is refused and names(tmp_path) == []


@dataclass
class Step:
    """What `optimize` (Newton, the default method) reports of an iteration (its progress line) and
    history.json records."""

    iteration: int
    cd: float
    radius: float = 0.5
    ratio: float = 1.0
    kkt_residual: float = 1.0
    fem_solves: int = 1
    seconds: float = 0.1


@pytest.fixture
def no_fem(monkeypatch):
    """optimize_case without the mesh and the flow: the work starts at once."""
    monkeypatch.setattr(runs, "DragProblem", lambda case, comm: contextlib.nullcontext())
    monkeypatch.setattr(runs, "ReducedFunctional", lambda problem: None)


@pytest.mark.parametrize("earlier", [False, True], ids=["new folder", "earlier run"])
@pytest.mark.parametrize("change", ["new file", "new folder", "changed file"])
def test_files_that_appear_in_the_run_folder_while_it_runs_are_never_deleted(tmp_path, earlier, change):
    """The start-up check accepts a new folder or an earlier run; what appears or changes there while the
    run is written is checked again at the swap: nothing is deleted, the finished run is kept beside it
    (`run.new`) and the error says where, in one line."""
    out = tmp_path / "run"
    if earlier:
        earlier_run(out)
    foreign, text = {
        "new file": (out / "notes.txt", "mine"),
        "new folder": (out / "notes" / "a.txt", "mine"),
        "changed file": (out / "summary.json", "edited by hand"),
    }[change]
    with pytest.raises(CaseError) as caught, staged_folder(out) as work:
        (work / "summary.json").write_text("new")
        foreign.parent.mkdir(parents=True, exist_ok=True)
        foreign.write_text(text)
    kept = tmp_path.resolve() / "run.new"
    message = str(caught.value)
    assert caught.value.exit_code == 2 and "\n" not in message
    assert message.startswith(f"--out {out.resolve()} changed while the run was written (")
    assert message.endswith(f"it is left as it is and the finished run is kept in {kept}")
    assert (kept / "summary.json").read_text() == "new" and foreign.read_text() == text
    if earlier:
        assert (out / "history.json").is_file(), "the earlier run stays whole"
    assert names(tmp_path) == ["run", "run.new"], "no temporary folder left"


def test_an_empty_folder_made_while_the_run_is_written_takes_the_run(tmp_path):
    out = tmp_path / "run"
    with staged_folder(out) as work:
        (work / "summary.json").write_text("new")
        out.mkdir()
    assert names(out) == ["summary.json"] and names(tmp_path) == ["run"]


def test_the_temporary_folders_of_killed_runs_of_the_same_out_are_removed_at_its_next_run(tmp_path):
    """`kill -9` leaves `.run.partial-PID` (and between the swap's renames `.run.old-PID`): the next run
    into `run` removes those of processes that are gone, and only those of `run`; a running process's
    stay, and so does an `.old` folder whose run folder is missing (it holds the earlier run)."""
    out = tmp_path / "run"
    earlier_run(out)
    dead, alive = 999999999, os.getppid()
    left = [f".run.partial-{alive}", ".other.partial-999999999", f".gone.old-{dead}"]
    for name in [f".run.partial-{dead}", f".run.partial-{dead}-2", f".run.old-{dead}", *left]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.json").write_text("a killed run")
    with staged_folder(out) as work:
        (work / "summary.json").write_text("new")
    assert names(tmp_path) == sorted(["run", *left])


def test_a_full_disk_while_a_run_is_written_is_one_line_and_keeps_what_was_written(tmp_path, monkeypatch):
    """ENOSPC from a picture (after the JSON files): one line, exit code 2, the JSON files kept and named;
    from a JSON file: no temporary file, the file as it was."""
    out = tmp_path / "run"
    earlier = earlier_run(out)
    with pytest.raises(CaseError) as caught, staged_folder(out) as work:
        write_json({"s": [0.1]}, work / "shape.json")
        write_json({"cd": 1.0}, work / "summary.json")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(work / "flow.png"))
    kept = tmp_path.resolve() / "run.partial"
    assert caught.value.exit_code == 2 and str(caught.value) == (
        f"cannot write flow.png: No space left on device; the files written so far are kept in {kept} "
        f"({out.resolve()} holds the earlier run)"
    )
    assert names(kept) == ["shape.json", "summary.json"] and fingerprint(out) == earlier

    def full_disk(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(CaseError, match=r"^cannot write .*summary.json: No space left on device$"):
        write_json({"cd": 2.0}, kept / "summary.json")
    assert names(kept) == ["shape.json", "summary.json"], "no temporary file left"


def test_optimize_on_a_full_disk_while_plotting_exits_2_in_one_line(tmp_path, monkeypatch, capsys, no_fem):
    def one_iteration(J, s0, save_step):
        save_step(Step(0, 1.0))
        return "result"

    def write_run(result, J, out, comm):  # as `runs.write_run`: the JSON files, then the pictures
        write_json({"s": [0.0]}, out / "shape.json")
        write_json({"result": result}, out / "summary.json")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "history.png"))

    monkeypatch.setattr(optimizers, "optimize_newton", one_iteration)
    monkeypatch.setattr(runs, "write_run", write_run)
    out = tmp_path / "run"
    assert main(["optimize", str(CASE), "--level", "coarse", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "shapeopt: error: cannot write history.png: No space left on device; the files written so far are "
        f"kept in {out.resolve()}"
    )
    assert names(out) == ["history.json", "shape.json", "summary.json"] and names(tmp_path) == ["run"]


def test_a_file_system_error_anywhere_else_is_one_line(monkeypatch, capsys):
    def read_only(*args):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/x")

    monkeypatch.setattr(runs, "optimize_case", read_only)
    monkeypatch.setattr(flow_commands, "check_run_folder", lambda *args, **kwargs: None)
    assert main(["optimize", str(CASE), "--out", "/mnt/x"]) == 2
    assert capsys.readouterr().err == "shapeopt: error: file system error on /mnt/x: Read-only file system\n"


def test_ctrl_c_in_optimize_into_an_earlier_run_keeps_both_and_says_where(
    tmp_path, monkeypatch, capsys, no_fem
):
    def two_iterations_then_ctrl_c(J, s0, save_step):
        save_step(Step(0, 1.0))
        save_step(Step(1, 0.9))
        raise KeyboardInterrupt

    monkeypatch.setattr(optimizers, "optimize_newton", two_iterations_then_ctrl_c)
    out = tmp_path / "run"
    before = earlier_run(out)
    code = main(["optimize", str(CASE), "--level", "coarse", "--out", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert code == 130 and len(err) == 3 and err[0].startswith("iter   0") and err[1].startswith("iter   1")
    kept = tmp_path.resolve() / "run.partial"
    assert err[2] == (
        f"shapeopt: error: interrupted; the files written so far are kept in {kept} "
        f"({out.resolve()} holds the earlier run)"
    )
    assert fingerprint(out) == before
    case, _, final = runs.read_run(out)  # `show` finds the earlier run as it was
    assert case == load_case(CASE) and np.array_equal(final, np.zeros(9))
    history = json.loads((kept / "history.json").read_text())["history"]
    assert [h["iteration"] for h in history] == [0, 1]


def test_optimize_into_an_earlier_run_replaces_it_when_complete(tmp_path, monkeypatch, no_fem):
    def one_iteration(J, s0, save_step):
        save_step(Step(0, 1.0))
        return "result"

    def write_run(result, J, out, comm):
        (out / "summary.json").write_text(json.dumps({"result": result}))
        return {"result": result}

    monkeypatch.setattr(optimizers, "optimize_newton", one_iteration)
    monkeypatch.setattr(runs, "write_run", write_run)
    out = tmp_path / "run"
    earlier_run(out)
    assert runs.optimize_case(load_case(CASE), out) == ("result", {"result": "result"})
    assert names(out) == ["history.json", "summary.json"], "no file of the earlier run is left"
    assert json.loads((out / "history.json").read_text())["history"] == [Step(0, 1.0).__dict__]
    assert names(tmp_path) == ["run"]


def test_optimize_refuses_to_replace_a_run_folder_that_holds_the_surrogates_dataset(
    tmp_path, monkeypatch, capsys, no_fem
):
    out = tmp_path / "run"
    before = earlier_run(out)
    (out / "d.h5").write_bytes(b"the surrogate's dataset")
    before = fingerprint(out)
    monkeypatch.setattr(surrogates, "load", lambda path: SimpleNamespace(meta={"dataset": str(out / "d.h5")}))
    (tmp_path / "s.pt").write_bytes(b"a surrogate")  # read by the `surrogates.load` above
    argv = [
        "optimize",
        str(CASE),
        "--method",
        "surrogate",
        "--surrogate",
        str(tmp_path / "s.pt"),
        "--out",
        str(out),
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"shapeopt: error: --out {out} holds the input {out / 'd.h5'}; " + (
        "give a folder that holds no input\n"
    )
    assert fingerprint(out) == before


# -- no output over an input ---------------------------------------------------------------------------


def outputs_over_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    """Command lines whose output is one of their inputs under another name, with the message expected."""
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    case = deep / "case.toml"
    case.write_text(CASE.read_text())
    (tmp_path / "link").symlink_to(deep)  # link/.. is a (the link's target's parent), not tmp_path
    (tmp_path / "case-link.pt").symlink_to(case)
    os.link(case, tmp_path / "hard.pt")
    run = tmp_path / "run"
    earlier_run(run)
    train = ["train", str(case), "--data", str(case), "--out"]
    return [
        ([*train, str(tmp_path / "case-link.pt")], "is the input"),  # a symbolic link to the input
        ([*train, str(tmp_path / "hard.pt")], "is the input"),  # a hard link: the same file
        ([*train, str(tmp_path / "a" / "x" / ".." / "b" / "case.toml")], "is the input"),
        (["optimize", str(case), "--out", str(tmp_path / "link" / ".." / "b")], "holds the input"),
        (["solve", str(CASE), "--shape", str(run / "shape.json"), "--out", str(run)], "holds the input"),
        (
            ["bench-train", RANGE_CASE, "--data", str(case), "--out", str(tmp_path / "link")],
            "holds the input",
        ),
        (["dataset", str(case), "--samples", "2", "--out", str(tmp_path / "hard.pt")], "is the input"),
    ]


def test_no_command_writes_over_its_input_under_another_name(tmp_path, capsys):
    for argv, message in outputs_over_inputs(tmp_path):
        before = fingerprint(tmp_path)
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("shapeopt: error: --out ") and message in err, err
        assert fingerprint(tmp_path) == before


# -- output locations are probed, and the probe leaves nothing ---------------------------------------------


def test_the_output_checks_leave_nothing_behind_and_accept_new_empty_and_earlier_run_folders(tmp_path):
    check_output_folder(tmp_path / "new" / "deeper")
    check_run_folder(tmp_path / "new" / "run")
    assert names(tmp_path) == []
    (tmp_path / "empty").mkdir()
    check_run_folder(tmp_path / "empty")
    earlier_run(tmp_path / "run")
    check_run_folder(tmp_path / "run")
    assert names(tmp_path) == ["empty", "run"] and names(tmp_path / "empty") == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_a_folder_that_takes_no_file_is_refused_although_it_passes_a_permission_check(tmp_path):
    assert os.access("/proc", os.W_OK) == (os.geteuid() == 0)  # root passes the permission check
    for check in (check_output_folder, check_run_folder):
        with pytest.raises(CaseError, match="cannot write /proc/x/run: /proc is not a writable folder"):
            check(Path("/proc/x/run"))


def test_a_run_reads_back_as_written(tmp_path):
    """The control of the `show` rows in test_bad_input.py: a summary as `optimize` writes it passes."""
    summary = run_summary()
    summary["final"]["s"] = [0.1, 0, 0, 0, 0, 0, 0, 0, -0.05]  # integers are numbers too
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    case, initial, final = runs.read_run(tmp_path, level="coarse")
    assert case == load_case(CASE).with_overrides(level="coarse")
    assert np.array_equal(initial, np.zeros(9)) and final.tolist() == summary["final"]["s"]


def test_solve_into_an_earlier_optimization_run_replaces_it_whole(tmp_path):
    out = tmp_path / "run"
    earlier_run(out)
    argv = ["solve", str(CASES / "cylinder-re10.toml"), "--level", "coarse", "--json", "--out", str(out)]
    proc = subprocess.run(shapeopt_command(*argv), capture_output=True, text=True, check=True)
    files = json.loads(proc.stdout)["files"]  # a subprocess: the flow solver's state stays out of pytest
    assert names(out) == ["flow.png", "pressure.bp", "summary.json", "velocity.bp"]
    assert sorted(files) == sorted(str(out / name) for name in ("flow.png", "pressure.bp", "velocity.bp"))
    assert names(tmp_path) == ["run"]
