"""Fault injection: bad inputs to every command end in one line and exit code 2, before any work,
and leave every input file as it was. Each row: command line (with placeholders), expected message.

Placeholders: CASE (a valid coarse case), BADCASE (the case file written from the row's TOML), DATA (a
synthetic dataset), RUN (a folder), FILE (an existing plain file), FOREIGN (an HDF5 file that is not a
dataset), SHAPE (the row's shape.json), PT (the row's surrogate file).
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
import torch

from shapeopt.cli import main
from tests.helpers import CASES, write_synthetic_dataset

GOOD = (CASES / "fourier4-re40.toml").read_text()
RANGE_CASE = str(CASES / "cylinder-re1-40.toml")


def case_with(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


CASE_ROWS = [
    (case_with("re = 40.0", "re = inf"), "'flow.re' must be a finite number"),
    (case_with("re = 40.0", "re = nan"), "'flow.re' must be a finite number"),
    (case_with("re = 40.0", "re = [1.0, inf]"), "range must satisfy 0 < low < high < inf"),
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
    (["dataset", RANGE_CASE, "--samples", "4", "--out", "RUN"], "is a directory", None),
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
            (["--gradient-weight", "nan"], "--gamma must be a finite number ≥ 0"),
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
        "--samples and --workers must be ≥ 1",
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
    if "SHAPE" in argv:
        modes = 8 if extra == "wide" else 4
        value = {"nan": "NaN", "inf": "Infinity", "wide": "0.0"}[extra]
        s = ", ".join([value] + ["0.0"] * (2 * modes))
        paths["SHAPE"] = str(tmp_path / "shape.json")
        (tmp_path / "shape.json").write_text(
            f'{{"parametrisation": "fourier", "modes": {modes}, "s": [{s}]}}'
        )
    if "PT" in argv:
        paths["PT"] = str(tmp_path / "empty.pt")
        torch.save({"format": "shapeopt-surrogate/1"}, tmp_path / "empty.pt")
    return [paths.get(a, a).replace("FILE/", paths["FILE"] + "/") for a in argv]


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
