"""Shared test helpers: paths to the shipped cases, the CLI as a subprocess, a synthetic dataset."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from surrogates.datafile import Dataset
from surrogates.spec import ParameterSpec

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"
RANGE_CASE = str(CASES / "cylinder-re1-40.toml")  # a case with a range of Re: datasets and surrogates
MPIRUN = str(Path(sys.executable).parent / "mpirun")  # the environment's mpirun


def interruptible() -> None:
    """`preexec_fn` of a subprocess that a test interrupts with SIGINT: Ctrl-C's default action, also
    when the tests run where SIGINT is ignored (a background job of a script), which children inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def started_interruptible(command: list[str]) -> subprocess.Popen:
    """`command` running with its stdout and stderr piped (text), ready to be sent SIGINT."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )


def wait_for(
    proc: subprocess.Popen, matches: Callable[[str], bool], what: str, timeout: float = 120
) -> list[str]:
    """stderr lines of `proc` up to the first that `matches`; `what` names it in the failure."""
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if matches(line):
            return lines
    raise AssertionError(f"no line with {what} in: {lines}")


def wait_for_line(proc: subprocess.Popen, fragment: str, timeout: float = 120) -> list[str]:
    """stderr lines of `proc` up to the first that contains `fragment`."""
    return wait_for(proc, lambda line: fragment in line, repr(fragment), timeout)


def wait_for_count(proc: subprocess.Popen, pattern: str, least: int, timeout: float = 120) -> list[str]:
    """stderr lines of `proc` up to the first whose count (the first group of the regular expression
    `pattern`, e.g. the epoch of a progress line) is at least `least`. Progress in a pipe comes every few
    seconds, so the count is passed, not met."""

    def counted(line: str) -> bool:
        found = re.search(pattern, line)
        return bool(found) and int(found.group(1)) >= least

    return wait_for(proc, counted, f"{pattern!r} ≥ {least}", timeout)


def hold_dataset_writer(path: Path, kill_after_open: bool = False) -> subprocess.Popen:
    """A process that opens the dataset `path` for appending and keeps it open (until killed); with
    `kill_after_open` killed with the file open (HDF5's "open for write" flag stays set)."""
    code = (
        "import time\n"
        "from surrogates.datafile import SampleFile\n"
        f"writer = SampleFile.open_existing({str(path)!r})\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    if kill_after_open:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc


def endless_training_command(data: Path, out: Path) -> list[str]:
    """`shapeopt train` of the Re 1–40 case on `data` into `out` that runs until it is stopped."""
    return shapeopt_command(
        "train",
        str(CASES / "cylinder-re1-40.toml"),
        "--level",
        "coarse",
        "--data",
        str(data),
        "--epochs",
        "1000000",
        "--out",
        str(out),
    )


def shapeopt_command(*args: str) -> list[str]:
    """Command line that runs the CLI with this interpreter."""
    return [sys.executable, "-m", "shapeopt", *args]


def write_synthetic_dataset(path: Path, level: str = "coarse", n: int = 24, n_state: int = 40) -> None:
    """A dataset in the shapeopt format for cylinder-re1-40.toml, written without FEM: smooth synthetic
    drag, gradients and states (the format, not the physics, is under test)."""
    from shapeopt.cases import load_case
    from shapeopt.designs import parameter_spec, sample_identity
    from surrogates.datafile import SampleFile

    case = load_case(CASES / "cylinder-re1-40.toml").with_overrides(level=level)
    spec = parameter_spec(case)
    attrs = {
        "case": case.to_dict(),
        "spec": spec,
        "mesh_sha256": "synthetic",
        "re_range": list(case.re_range),
        "seed": 0,
        "level": level,
    }
    rng = np.random.default_rng(0)
    identity = sample_identity(case) | {"mesh_sha256": "synthetic", "seed": 0}
    writer = SampleFile(path, spec.size, n_state, attrs, np.full(n_state, 1.0 / n_state), identity)
    try:
        for i in range(n):
            s = rng.uniform(spec.lower, spec.upper)
            re = float(np.exp(rng.uniform(0.0, np.log(40.0))))
            writer.append(
                {
                    "index": i,
                    "status": 0,
                    "s": s,
                    "re": re,
                    "cd": (1 + s @ s) * (1 + 10 / re),
                    "cl": 0.1 * s[0],
                    "dcd": 2 * s * (1 + 10 / re),
                    "dcl": np.zeros(spec.size),
                    "state": 1
                    + s[0] * np.sin(np.linspace(0, 3, n_state))
                    + np.cos(np.linspace(0, 2, n_state)) / re,
                }
            )
    finally:
        writer.close()


SYNTHETIC_SIZE = (4, 50)  # shape parameters m, state size N of `synthetic_dataset`
M, N = SYNTHETIC_SIZE
SYNTHETIC_SPEC = ParameterSpec("fourier", 1, ("a0", "a1", "b1", "x"), 0.5, (0.0, 0.0), [[-0.3, 0.3]] * M)


def synthetic_dataset(n: int = 120, seed: int = 0) -> Dataset:
    """C_D = (1 + 0.5 s·s + 0.2 s_0) (1 + 10/Re), exact gradients; states from 3 smooth modes."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-0.3, 0.3, (n, M))
    re = np.exp(rng.uniform(np.log(1), np.log(40), n))
    factor = 1 + 10 / re
    cd = (1 + 0.5 * np.sum(s**2, axis=1) + 0.2 * s[:, 0]) * factor
    dcd = (s + np.eye(M)[0] * 0.2) * factor[:, None]
    x = np.linspace(0, 1, N)
    modes = np.stack([np.sin(np.pi * x), np.sin(2 * np.pi * x), np.cos(np.pi * x)])
    state = 1 + np.column_stack([s[:, 0], s[:, 1] * np.log(re), 1 / re]) @ modes
    return Dataset(
        s=s,
        re=re,
        cd=cd,
        cl=0.1 * s[:, 1],
        dcd=dcd,
        dcl=np.zeros((n, M)),
        state=state,
        weights=np.full(N, 1.0 / N),
        spec=SYNTHETIC_SPEC,
        mesh_sha256="abc123",
        re_range=(1.0, 40.0),
        case={"name": "synthetic"},
        failed=0,
    )


def run_summary() -> dict:
    """summary.json of an optimization run as `shapeopt optimize` writes it, cut to what `show` reads: the
    fourier4-re40 case (9 shape parameters), from the circle to the circle."""
    from shapeopt.cases import load_case

    case = load_case(CASES / "fourier4-re40.toml").to_dict()
    return {"case": case, "initial": {"s": [0.0] * 9}, "final": {"s": [0.0] * 9}}


def surrogate_route(case, folder: Path):
    """The learning route on `case`: a 12-sample dataset in `folder`, a briefly trained Sobolev surrogate
    and four FEM-verified trust-region steps from its optimum. Returns the dataset's summary, the dataset,
    the trust region's result and the problem's design space."""
    from shapeopt.data.dataset import generate
    from shapeopt.design.functional import ReducedFunctional
    from shapeopt.design.surrogate_search import optimize_surrogate
    from shapeopt.design.trust_region import TrustRegionSettings
    from shapeopt.designs import parameter_spec
    from shapeopt.fem.problem import DragProblem
    from surrogates.datafile import read_dataset
    from surrogates.settings import TrainSettings
    from surrogates.train import train

    summary = generate(case, folder / "data.h5", 12)
    data = read_dataset(folder / "data.h5")
    settings = TrainSettings(method="sobolev", epochs=200, batch=8, width=32, depth=2, budget_seconds=30)
    model = train(data, settings, {"case": case.name}).surrogate
    with DragProblem(case) as problem:
        J = ReducedFunctional(problem)
        model.check_compatible(parameter_spec(case), problem.flow_mesh.sha256, (J.re, J.re))
        result = optimize_surrogate(J, model, TrustRegionSettings(global_samples=2048, starts=2, max_steps=4))
        return summary, data, result, problem.space
