"""The progress of `dataset` and `train`: a handful of plain lines in a file or a pipe however many epochs or
samples, one line redrawn in place on a terminal; --json on stdout untouched."""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest
from rich.console import Console

from shapeopt.cli import main
from shapeopt.cli.progress import ProgressLine, dataset_progress, training_progress
from shapeopt.data.dataset import Progress
from tests.helpers import RANGE_CASE, shapeopt_command, write_synthetic_dataset

EPOCHS = 5000


def feed_epochs(line: ProgressLine) -> None:
    """`EPOCHS` history entries of a training whose validation loss falls, as `surrogates.train` gives."""
    show = training_progress(line, EPOCHS, float("inf"))
    for epoch in range(EPOCHS):
        show({"epoch": epoch, "validation_loss": 1 / (epoch + 1), "validation_cd_error": 0.1 / (epoch + 1),
              "seconds": 1e-4 * epoch})  # fmt: skip


def feed_samples(line: ProgressLine, samples: int = 1000) -> None:
    """`samples` dataset samples, one in ten failed, as `shapeopt.data.dataset.generate` reports them."""
    show = dataset_progress(line, samples)
    for done in range(1, samples + 1):
        show(Progress(done=done, failed=done // 10, todo=samples, stored=done, seconds=0.5 * done))


def plain(stream: io.StringIO) -> Console:
    return Console(file=stream, force_terminal=False)


def terminal(stream: io.StringIO) -> Console:
    return Console(file=stream, force_terminal=True, force_interactive=True, width=120)


def test_a_long_training_in_a_file_prints_a_handful_of_lines_the_last_one_final():
    stream = io.StringIO()
    with ProgressLine(plain(stream)) as line:
        feed_epochs(line)
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 3 and all(text.startswith("epoch ") for text in lines), lines
    assert lines[-1].startswith(f"epoch {EPOCHS - 1} 100% ") and "C_D error 2.00e-05" in lines[-1]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()  # plain text


def test_a_long_dataset_in_a_file_prints_a_handful_of_lines_with_the_failures():
    stream = io.StringIO()
    with ProgressLine(plain(stream)) as line:
        feed_samples(line)
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 3, lines
    assert lines[0].startswith("[1/1000] samples")
    assert lines[-1].startswith("[1000/1000] samples 100% ") and "100 failed, 0.50 s/sample" in lines[-1]


def test_plain_lines_come_every_few_seconds_not_per_update():
    stream = io.StringIO()
    with ProgressLine(plain(stream), every=0.0) as line:  # every update due: one line each
        feed_samples(line, 5)
    assert len(stream.getvalue().splitlines()) == 5


@pytest.mark.parametrize("feed", [feed_epochs, feed_samples])
def test_on_a_terminal_one_line_is_redrawn_in_place(feed):
    stream = io.StringIO()
    with ProgressLine(terminal(stream)) as line:
        feed(line)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.count("\r\x1b[2K") >= 1  # carriage return, erase the line
    last = text.rsplit("\r\x1b[2K", 1)[1]
    assert ("100%" in last) and ("━" in last)  # the bar, finished


def test_train_in_a_pipe_prints_a_handful_of_progress_lines_and_the_same_json(tmp_path, capsys):
    data, out = tmp_path / "d.h5", tmp_path / "s.pt"
    write_synthetic_dataset(data)
    args = ["train", RANGE_CASE, "--level", "coarse", "--data", str(data), "--epochs", "300"]
    assert main([*args, "--method", "supervised", "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["metrics"]["epochs"] == 300
    lines = captured.err.splitlines()
    assert 1 <= len(lines) <= 3 and lines[-1].startswith("epoch 299 100% "), lines


@pytest.mark.slow
def test_train_on_a_pseudo_terminal_redraws_one_line(tmp_path):
    data, out = tmp_path / "d.h5", tmp_path / "s.pt"
    write_synthetic_dataset(data)
    command = shapeopt_command(
        "train", RANGE_CASE, "--level", "coarse", "--data", str(data), "--epochs", "300", "--out", str(out)
    )
    leader, follower = os.openpty()
    env = os.environ | {"TERM": "xterm", "COLUMNS": "120"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    received = b""
    while chunk := read_some(leader):
        received += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0 and b"300 epochs" in proc.stdout.read()
    text = received.decode()
    assert text.count("\n") == 1 and text.count("\r\x1b[2K") >= 2 and "epoch 299" in text, text[-500:]


def read_some(fd: int) -> bytes:
    """What the pseudo-terminal `fd` has, b"" once its other end is closed (Linux raises EIO)."""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""
