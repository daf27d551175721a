"""Fault injection: bad inputs to every command end in one line and exit code 2, before any work,
and leave every input file as it was. Each row: command line (with placeholders), expected message.

Placeholders: CASE (a valid coarse case), BADCASE (the case file written from the row's TOML), DATA (a
synthetic dataset), RUN (a folder), FILE (an existing plain file), FOREIGN (an HDF5 file that is not a
dataset), SHAPE (the row's shape.json), PT (the row's surrogate file), BADRUN (a run folder whose
summary.json has the row's fault, `bad_summary`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import signal
import stat
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

import surrogates
from shapeopt.cli import build_parser, main
from tests.helpers import CASES, RANGE_CASE, run_summary, write_synthetic_dataset

GOOD = (CASES / "fourier4-re40.toml").read_text()


def case_with(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


CASE_ROWS = [
    (case_with("re = 40.0", "re = inf"), "'flow.re' must be a finite number"),
    (case_with("re = 40.0", "re = nan"), "'flow.re' must be a finite number"),
    (case_with("re = 40.0", "re = [1.0, inf]"), "range must satisfy 0 < low < high < inf"),
    (case_with("re = 40.0", "re = 1e-300"), "'flow.re' must lie from 1e-06 to 1e+06"),
    (case_with("re = 40.0", "re = [1e-9, 40.0]"), "solver can take), got 1e-09"),
    (GOOD + "[solver]\nrtol = inf\n", "'solver.rtol' must be a finite number"),
    (GOOD + "[solver]\nrtol = nan\n", "'solver.rtol' must be a finite number"),
    (case_with("modes = 4", "modes = 1000"), "'shape.modes' must be ≤ 32 for fourier"),
    (case_with("min_quality = 0.1", "min_quality = 2"), "'shape.min_quality' must be < 1"),
    (case_with("area_ratio = 1.0", "area_ratio = 10"), "'constraints.area_ratio' 10 cannot be"),
    (case_with("upstream = 40.0", "upstream = 0.1"), "'domain.upstream' 0.1 does not hold the body"),
    (case_with("half_width = 40.0", "half_width = 0.3"), "'domain.half_width' 0.3 does not hold the body"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The shared inputs of the rows: a dataset, a plain file, a foreign HDF5 file, a run folder."""
    root = tmp_path_factory.mktemp("inputs")
    write_synthetic_dataset(root / "data.h5")
    (root / "file.txt").write_text("a plain file\n")
    with h5py.File(root / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    (root / "run").mkdir()
    return root


ROWS = [
    # cases
    *[(["solve", "BADCASE"], message, toml) for toml, message in CASE_ROWS],
    (["solve", "RUN"], "cannot read case file", None),
    (["solve", "missing.toml"], "case file not found", None),
    (["solve", "CASE", "--re", "inf"], "'re' must be a finite number > 0", None),
    (["solve", "CASE", "--re", "nan"], "'re' must be a finite number > 0", None),
    (["solve", "CASE", "--re", "-1"], "'re' must be a finite number > 0", None),
    (["solve", "CASE", "--re", "1e-300"], "'re' must lie from 1e-06 to 1e+06", None),
    # shapes
    (["solve", "CASE", "--shape", "RUN"], "cannot read shape file", None),
    (["solve", "CASE", "--shape", "missing.json"], "shape file not found", None),
    (["solve", "CASE", "--shape", "FILE"], "not a shape file", None),
    (["solve", "CASE", "--shape", "SHAPE"], "shape parameters must be finite", "nan"),
    (["gradient", "CASE", "--shape", "SHAPE"], "shape parameters must be finite", "inf"),
    (["optimize", "CASE", "--shape", "SHAPE", "--out", "RUN"], "the case uses fourier with 4 modes", "wide"),
    # output paths
    (["solve", "CASE", "--out", "FILE"], "is a file; give a folder", None),
    (["optimize", "CASE", "--out", "FILE"], "is a file; give a folder", None),
    (["optimize", "CASE", "--out", "FILE/sub"], "is not a writable folder", None),
    (["run", "CASE", "--out", "FILE"], "is a file; give a folder", None),
    (["train", RANGE_CASE, "--data", "DATA", "--out", "RUN"], "is a folder; give a file name", None),
    (["train", RANGE_CASE, "--data", "DATA", "--out", "FILE/s.pt"], "is not a writable folder", None),
    (["dataset", RANGE_CASE, "--samples", "4", "--out", "RUN"], "is a folder; give a file name", None),
    (["dataset", RANGE_CASE, "--samples", "4", "--out", "FOREIGN"], "not a shapeopt dataset", None),
    (["dataset", RANGE_CASE, "--samples", "4", "--out", "FILE"], "not a readable HDF5 dataset", None),
    (["bench-train", RANGE_CASE, "--data", "DATA", "--out", "FILE"], "is a file; give a folder", None),
    (["show", "RUN", "--screenshot", "RUN"], "is a folder; give a file name", None),
    # datasets
    (["train", RANGE_CASE, "--data", "missing.h5", "--out", "s.pt"], "dataset not found", None),
    (["train", RANGE_CASE, "--data", "FOREIGN", "--out", "s.pt"], "not a shapeopt dataset", None),
    (["train", RANGE_CASE, "--data", "FILE", "--out", "s.pt"], "not an HDF5 file", None),
    (["train", RANGE_CASE, "--level", "medium", "--data", "DATA", "--out", "s.pt"], "mesh level", None),
    (
        ["train", "CASE", "--level", "coarse", "--data", "DATA", "--out", "s.pt"],
        "Re range [1.0, 40.0] ≠ the case's",
        None,
    ),
    # training options
    *[
        (["train", RANGE_CASE, "--data", "DATA", "--out", "s.pt", *option], message, None)
        for option, message in [
            (["--epochs", "0"], "--epochs must be ≥ 1, got 0"),
            (["--epochs", "-5"], "--epochs must be ≥ 1, got -5"),
            (["--budget-seconds", "0"], "--budget-seconds must be a finite number > 0"),
            (["--batch", "0"], "--batch must be ≥ 1"),
            (["--gradient-weight", "nan"], "--gradient-weight must be a finite number ≥ 0"),
            (["--lr", "-1"], "--lr must be a finite number > 0"),
            (["--tau", "2"], "--tau must lie in (0, 1]"),
            (["--workers", "0"], "--workers must be ≥ 1"),
            (["--damping", "-1"], "--damping must be a finite number ≥ 0"),
        ]
    ],
    (["bench-train", RANGE_CASE, "--data", "DATA", "--methods", "hig:foo=1"], "is not KEY=VALUE", None),
    (["bench-train", RANGE_CASE, "--data", "DATA", "--methods", "adam"], "unknown training method", None),
    (["bench-train", RANGE_CASE, "--data", "DATA", "--methods", "hig:lr=x"], "is not a value for lr", None),
    (["bench-train", RANGE_CASE, "--data", "DATA", "--methods", "hig:tau=3"], "tau must lie in (0, 1]", None),
    (
        ["dataset", RANGE_CASE, "--samples", "0", "--out", "new.h5"],
        "--samples must be ≥ 1, got 0",
        None,
    ),
    (["dataset", RANGE_CASE, "--workers", "0", "--samples", "2", "--out", "new.h5"], "must be ≥ 1", None),
    # surrogates
    (["optimize", "CASE", "--method", "surrogate", "--out", "RUN"], "needs --surrogate FILE", None),
    (
        ["optimize", "CASE", "--method", "surrogate", "--surrogate", "missing.pt", "--out", "RUN"],
        "not found",
        None,
    ),
    (
        ["optimize", "CASE", "--method", "surrogate", "--surrogate", "FILE", "--out", "RUN"],
        "not a surrogate",
        None,
    ),
    (
        ["optimize", "CASE", "--method", "surrogate", "--surrogate", "PT", "--out", "RUN"],
        "damaged surrogate",
        "pt",
    ),
    (["optimize", "CASE", "--surrogate", "FILE", "--out", "RUN"], "apply to --method surrogate only", None),
    # run folders
    (["show", "RUN"], "is not an optimization run directory", None),
    (["show", "RUN", "--size", "big"], "expected WIDTHxHEIGHT", None),
    # output over an input (also through `..`), before any work
    (["train", RANGE_CASE, "--data", "DATA", "--out", "DATA"], "is the input", None),
    (["train", "CASE", "--level", "coarse", "--data", "DATA", "--out", "CASE"], "is the input", None),
    (["dataset", "CASE", "--samples", "4", "--out", "CASE"], "is the input", None),
    (["solve", "CASE", "--shape", "SHAPE", "--out", "."], "holds the input", "wide"),
    (["optimize", "CASE", "--shape", "SHAPE", "--out", "RUN/../.."], "holds the input", "wide"),
    (
        ["optimize", "CASE", "--method", "surrogate", "--surrogate", "PT", "--out", "."],
        "holds the input",
        "pt",
    ),
    (["bench-train", RANGE_CASE, "--data", "DATA", "--out", "RUN/.."], "holds the input", None),
    (["run", "CASE", "--out", "data"], "is the input data", None),
    (["show", "RUN", "--screenshot", "RUN/summary.json"], "is the input", None),
    # a run folder is replaced whole: never the current folder, or a folder of other files
    (["optimize", "CASE", "--out", "."], "is the current folder", None),
    (["optimize", "CASE", "--out", "RUN/.."], "is a folder of other files, not a run", None),
    (["run", "CASE", "--out", "RUN/.."], "is a folder of other files, not a run", None),
    # output locations that pass a permission check but take no file (probed before the work)
    (["solve", "CASE", "--out", "/proc/x"], "/proc is not a writable", None),
    (["optimize", "CASE", "--out", "/proc/x"], "/proc is not a writable", None),
    (["run", "CASE", "--out", "/proc/x"], "/proc is not a writable", None),
    (["train", RANGE_CASE, "--data", "DATA", "--out", "/proc/s.pt"], "/proc is not a writable", None),
    (["dataset", RANGE_CASE, "--samples", "4", "--out", "/proc/x.h5"], "/proc is not a writable", None),
    (["bench-train", RANGE_CASE, "--data", "DATA", "--out", "/proc/b"], "/proc is not a writable", None),
    (["show", "RUN", "--out", "/proc"], "/proc is not a writable", None),
    # what `show` reads from a run
    (["show", "FILE"], "is not an optimization run directory (not a folder)", None),
    (["show", "BADRUN"], "'flow.re' must be a finite number > 0, got -40.0", "re"),
    (["show", "BADRUN"], "mesh.level 'huge' is not one of", "level"),
    (["show", "BADRUN"], "final.s has 3 parameters, the run's case (fourier with 4 modes) has 9", "short"),
    (["show", "BADRUN"], "final.s: shape parameters must be numbers (int or float), got str", "strings"),
    (["show", "BADRUN"], "initial.s: shape parameters must be numbers (int or float), got bool", "bool"),
    (["show", "BADRUN"], "final.s: shape parameters must be finite", "nan"),
    (["show", "BADRUN"], "not a run summary (JSON nested too deep)", "deep"),
    (["show", "BADRUN"], "cannot read the run (TypeError", "list"),
    # shape files: numbers only (not strings, not true/false), read without a traceback
    (["solve", "CASE", "--shape", "SHAPE"], "must be numbers (int or float), got str '0.1'", "string"),
    (["gradient", "CASE", "--shape", "SHAPE"], "must be numbers (int or float), got bool True", "bool"),
    (["optimize", "CASE", "--shape", "SHAPE", "--out", "RUN"], "not a shape file (JSON nested too", "deep"),
    # option errors: one line naming the option, exit 2 (argparse's usage block is not printed)
    (["solve", "CASE", "--level", "ultra"], "solve: argument --level: invalid choice: 'ultra'", None),
    (["solve", "CASE", "--re", "abc"], "argument --re: invalid float value: 'abc'", None),
    (["frobnicate", "CASE"], "argument COMMAND: invalid choice: 'frobnicate'", None),
    (
        ["train", RANGE_CASE, "--data", "DATA", "--out", "s.pt", "--epochs", "1e3"],
        "--epochs: invalid int",
        None,
    ),
    (["solve", "CASE", "--bogus"], "unrecognized arguments: --bogus", None),
    (["dataset", RANGE_CASE, "--out", "new.h5"], "the following arguments are required: --samples", None),
    ([], "the following arguments are required: COMMAND", None),
    # values that raised tracebacks: refused up front, with the option (or case key) and the limit
    (
        ["solve", "BADCASE"],
        "'shape.bound' must be ≤ 100, got 1e+308",
        case_with("bound = 0.6 ", "bound = 1e308 "),
    ),
    (["gradient", "CASE", "--check", "--seed", "-1"], "argument --seed: must be ≥ 0, got -1", None),
    (
        ["dataset", RANGE_CASE, "--samples", "10000000000", "--out", "new.h5"],
        "--samples must be ≤ 1000000",
        None,
    ),
    (
        ["dataset", RANGE_CASE, "--seed", "-1", "--samples", "2", "--out", "new.h5"],
        "--seed must be ≥ 0",
        None,
    ),
    (["train", RANGE_CASE, "--data", "DATA", "--out", "s.pt", "--seed", "-1"], "--seed must be ≥ 0", None),
    # a case path that is no regular file (a FIFO would block the read forever)
    (["solve", "FIFO"], "it is a FIFO, not a regular file", None),
    (["solve", "/dev/null"], "it is a device, not a regular file", None),
    (["solve", "CASE", "--shape", "FIFO"], "cannot read shape file", None),
    (["dataset", RANGE_CASE, "--samples", "2", "--out", "FIFO"], "is a FIFO, not a regular file", None),
    (["train", RANGE_CASE, "--data", "FIFO", "--out", "s.pt"], "it is a FIFO, not a regular file", None),
    # settings are checked before any work, each message naming the flag typed
    (
        ["train", RANGE_CASE, "--data", "DATA", "--out", "s.pt", "--gradient-weight", "-1"],
        "--gradient-weight",
        None,
    ),
    (["run", "CASE", "--samples", "0"], "--samples must be ≥ 1, got 0", None),
    (["run", "CASE", "--epochs", "0"], "--epochs must be ≥ 1, got 0", None),
    (["run", "CASE", "--budget-seconds", "0"], "--budget-seconds must be a finite number > 0", None),
    (["run", "CASE", "--workers", "0"], "--workers must be ≥ 1, got 0", None),
    (["run", "CASE", "--search-samples", "0"], "--search-samples must lie in [1, 16777216]", None),
    (
        ["bench-train", RANGE_CASE, "--data", "DATA", "--methods", ","],
        "--methods names no training method",
        None,
    ),
    (["bench-train", RANGE_CASE, "--data", "DATA", "--workers", "0"], "--workers must be ≥ 1", None),
    (
        ["bench-train", RANGE_CASE, "--data", "DATA", "--budget-seconds", "0"],
        "--budget-seconds must be",
        None,
    ),
]


def materialise(argv: list[str], extra, files, tmp_path) -> list[str]:
    """The row's command line with its placeholders replaced by real paths."""
    paths = {
        "CASE": str(CASES / "fourier4-re40.toml"),
        "DATA": str(files / "data.h5"),
        "RUN": str(files / "run"),
        "FILE": str(files / "file.txt"),
        "FOREIGN": str(files / "foreign.h5"),
    }
    if "BADCASE" in argv:
        paths["BADCASE"] = str(tmp_path / "bad.toml")
        (tmp_path / "bad.toml").write_text(extra)
    if "FIFO" in argv:
        paths["FIFO"] = str(tmp_path / "case.toml")
        os.mkfifo(paths["FIFO"])
    if "SHAPE" in argv:
        modes = 8 if extra == "wide" else 4
        value = {"nan": "NaN", "inf": "Infinity", "wide": "0.0", "string": '"0.1"', "bool": "true"}.get(
            extra,
            "[" * 100_000 + "]" * 100_000,  # "deep": nested past what JSON reading allows
        )
        s = ", ".join([value] + ["0.0"] * (2 * modes))
        paths["SHAPE"] = str(tmp_path / "shape.json")
        (tmp_path / "shape.json").write_text(
            f'{{"parametrisation": "fourier", "modes": {modes}, "s": [{s}]}}'
        )
    if "BADRUN" in argv:
        paths["BADRUN"] = str(tmp_path / "badrun")
        (tmp_path / "badrun").mkdir()
        (tmp_path / "badrun" / "summary.json").write_text(bad_summary(extra))
    if "PT" in argv:
        paths["PT"] = str(tmp_path / "empty.pt")
        torch.save({"format": "shapeopt-surrogate/1"}, tmp_path / "empty.pt")
    folders = {"FILE/": paths["FILE"] + "/", "RUN/": paths["RUN"] + "/"}
    return [functools.reduce(lambda a, f: a.replace(f, folders[f]), folders, paths.get(a, a)) for a in argv]


def bad_summary(fault: str) -> str:
    """summary.json of a run (`run_summary`) with one `fault`."""
    if fault == "deep":
        return '{"case": ' + "[" * 100_000 + "]" * 100_000 + "}"
    if fault == "list":
        return "[1, 2]"
    part, key, value = {
        "re": ("case", "re", -40.0),
        "level": ("case", "level", "huge"),
        "short": ("final", "s", [0.0] * 3),
        "strings": ("final", "s", ["0.1"] * 9),
        "bool": ("initial", "s", [True] + [0.0] * 8),
        "nan": ("final", "s", [float("nan")] + [0.0] * 8),
    }[fault]
    summary = run_summary()
    summary[part][key] = value
    return json.dumps(summary)


def fingerprint(folder) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("argv", "message", "extra"), ROWS, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    argv, message, extra, files, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    command = materialise(argv, extra, files, tmp_path)
    before = fingerprint(files) | fingerprint(CASES)
    code = main(command)
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("shapeopt: error: "), err
    assert message in err, err
    assert fingerprint(files) | fingerprint(CASES) == before
    assert not (tmp_path / "s.pt").exists() and not (tmp_path / "new.h5").exists()


@pytest.mark.parametrize("option", [["--samples", "0"], ["--epochs", "0"], ["--workers", "0"]])
def test_run_refuses_its_settings_before_making_the_dataset(option, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(CASES / "fourier4-re40.toml"), "--level", "coarse", *option]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # no data/ (dataset, surrogate), no runs/


def test_help_still_prints_the_whole_help(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: shapeopt train") and "--gradient-weight" in out


# -- every path on every command line ---------------------------------------------------------------------

# Per command, the paths of a command line that would start work (`path_options` swaps one for a bad
# path): CASE a case, DATA a dataset, FILE a plain file (a surrogate is read only after the paths are
# checked), RUN a folder, NEW a name that does not exist yet; and the options that are no paths.
COMMAND_LINES = {
    "solve": ({"case": "CASE"}, ["--level", "coarse"]),
    "gradient": ({"case": "CASE"}, ["--level", "coarse"]),
    "optimize": ({"case": "CASE", "surrogate": "FILE", "out": "NEW"}, ["--method", "surrogate"]),
    "atlas": ({"case": "CASE", "surrogate": "FILE", "out": "NEW"}, ["--re", "10"]),
    "atlas --designer": ({"case": "CASE", "designer": "FILE", "out": "NEW"}, ["--re", "10,20"]),
    "design": ({"case": "CASE", "model": "FILE", "out": "NEW"}, []),
    "train-designer": ({"case": "CASE", "atlas": "RUN", "out": "NEW"}, []),
    "train-path": ({"case": "CASE", "atlas": "RUN", "out": "NEW"}, []),
    "dataset": ({"case": "RANGE", "out": "NEW"}, ["--samples", "2"]),
    "run": ({"case": "CASE", "out": "NEW"}, []),
    "show": ({"directory": "RUN"}, []),
    "train": ({"case": "RANGE", "data": "DATA", "out": "NEW"}, []),
    "bench-train": ({"case": "RANGE", "data": "DATA", "out": "NEW"}, []),
}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """The parser of each command."""
    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def path_options() -> list[tuple[str, str]]:
    """(command, destination) of every argument of the CLI that takes a path (`type=Path`), and the
    output of `atlas --designer` (its own route's checks)."""
    return [
        (name, action.dest)
        for name, sub in subcommands().items()
        for action in sub._actions
        if action.type is Path
    ] + [("atlas --designer", "out")]


def bad_paths(folder: Path) -> dict[str, Path]:
    """Paths no command can read or write as a file, made in `folder`: a FIFO, a character device (when
    this user may make one), a name longer than NAME_MAX, a path longer than PATH_MAX, a loop of links."""
    os.mkfifo(folder / "fifo")
    paths = {"fifo": folder / "fifo", "long name": folder / ("x" * 300), "long path": folder / ("a/" * 2100)}
    (folder / "loop").symlink_to(folder / "loop")
    paths["loop"] = folder / "loop"
    with contextlib.suppress(PermissionError):  # the null device's numbers, in the test's own folder
        os.mknod(folder / "device", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        paths["device"] = folder / "device"
    return paths


def command_line(command: str, swapped: str, bad: Path, files: Path, tmp_path: Path) -> list[str]:
    """The command line of `COMMAND_LINES[command]` with the path `swapped` replaced by `bad`."""
    paths, options = COMMAND_LINES[command]
    real = {
        "CASE": CASES / "fourier4-re40.toml",
        "RANGE": RANGE_CASE,
        "DATA": files / "data.h5",
        "FILE": files / "file.txt",
        "RUN": files / "run",
        "NEW": tmp_path / "new",
    }
    values = {dest: str(real[name]) for dest, name in paths.items()} | {swapped: str(bad)}
    argv = [command.split()[0]]
    for action in subcommands()[argv[0]]._actions:
        if action.dest in values:
            argv += [*action.option_strings[:1], values[action.dest]]
    return argv + options


@pytest.mark.parametrize(("command", "dest"), path_options(), ids=[f"{c} {d}" for c, d in path_options()])
def test_every_path_option_refuses_a_fifo_a_device_a_long_name_and_a_link_loop_in_one_line(
    command, dest, files, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    bad = bad_paths(tmp_path)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail(f"{command} --{dest} waits on a FIFO"))
    for kind, path in bad.items():
        before = fingerprint(files) | fingerprint(CASES)
        signal.alarm(30)
        try:
            code = main(command_line(command, dest, path, files, tmp_path))
        finally:
            signal.alarm(0)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("shapeopt: error: "), (kind, err)
        assert fingerprint(files) | fingerprint(CASES) == before
    assert stat.S_ISFIFO(os.lstat(bad["fifo"]).st_mode), "the FIFO is never replaced"
    assert "device" not in bad or stat.S_ISCHR(os.lstat(bad["device"]).st_mode)
    made = {"fifo", "loop", "device"} & set(bad)
    assert {p.name for p in tmp_path.iterdir()} == made, "nothing written, nothing left behind"


@pytest.mark.parametrize("recorded", ["missing.h5", "fifo", "loop", "x" * 300, "a/" * 2100])
def test_the_dataset_a_surrogate_records_is_checked_as_every_input_file(
    recorded, files, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    bad_paths(tmp_path)
    (tmp_path / "s.pt").write_bytes(b"a surrogate")  # read by the `surrogates.load` below
    monkeypatch.setattr(surrogates, "load", lambda path: SimpleNamespace(meta={"dataset": recorded}))
    argv = ["optimize", str(CASES / "fourier4-re40.toml"), "--method", "surrogate", "--surrogate", "s.pt"]
    assert main([*argv, "--refit", "--out", "run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("shapeopt: error: --refit: "), err
    assert "the surrogate's dataset" in err and f" {tmp_path}"[:40] in err, "taken from the current folder"
    assert not (tmp_path / "run").exists()
