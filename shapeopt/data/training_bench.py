"""`bench-train`: training methods side by side on one dataset and network, either for one wall-clock
budget each or each until converged (`--schedule plateau`, the budget as a cap).

A method may carry setting overrides, `hig-sobolev:damping=1e-3:lr=0.1`, to compare variants. Each
entry's result (test metrics, seconds, solver calls, validation history) is stored in `OUT/<entry>.json`
as soon as it is trained, so a rerun resumes with the entries still missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shapeopt.cases import Case
from shapeopt.data.physics_pool import open_physics
from shapeopt.data.settings import PhysicsSettings
from shapeopt.data.training import dataset_record, read_dataset_for, save_surrogate
from shapeopt.errors import InterruptedWorkError
from shapeopt.files import read_json, write_json
from shapeopt.viz.plots import plot_learning_curves
from surrogates.settings import METHODS, PHYSICS_METHODS, TrainSettings, settings_for

LOG_SECONDS = 10.0  # at most one progress line per method every this many seconds


def parse_entry(entry: str) -> tuple[str, dict]:
    """`method[:key=value…]` → (method, overrides); ValueError names what is wrong."""
    method, *pairs = entry.split(":")
    if method not in METHODS:
        raise ValueError(f"unknown training method {method!r} (expected one of {', '.join(METHODS)})")
    fields = TrainSettings.__dataclass_fields__
    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields or key in ("method", "schedule", "budget_seconds", "epochs") or not value:
            raise ValueError(f"{entry}: '{pair}' is not KEY=VALUE for a training setting")
        try:
            overrides[key] = type(getattr(TrainSettings, key))(value)
        except ValueError:
            raise ValueError(f"{entry}: {value!r} is not a value for {key}") from None
    problems = settings_for(method, **overrides).problems()
    if problems:
        raise ValueError(f"{entry}: " + "; ".join(problems))
    return method, overrides


def bench_train(
    case: Case,
    data_path: Path,
    out: Path,
    budget_seconds: float = PhysicsSettings.budget_seconds,
    entries: tuple[str, ...] = METHODS,
    workers: int = PhysicsSettings.workers,
    log: Callable[[str], None] = print,
    schedule: str = "budget",
) -> list[dict]:
    """Train each entry (`parse_entry`) for `budget_seconds`, or until converged with the `plateau`
    schedule; returns one result row per entry (also in `out`)."""
    parsed = {entry: parse_entry(entry) for entry in entries}
    data = read_dataset_for(case, data_path)
    out.mkdir(parents=True, exist_ok=True)
    rows, todo = {}, []
    for entry in entries:
        record = out / f"{entry}.json"
        if record.exists():
            rows[entry] = read_json(record, "training record")
            log(f"{entry}: reusing {record}")
        else:
            todo.append(entry)
    options = {"epochs": 10**9, "budget_seconds": budget_seconds, "schedule": schedule}

    def train_all(chosen: list[str], physics) -> None:
        for entry in chosen:
            method, overrides = parsed[entry]
            settings = settings_for(method, **(overrides | options))
            rows[entry] = _train_one(entry, settings, data, data_path, case, out, physics, log)

    train_all([e for e in todo if parsed[e][0] not in PHYSICS_METHODS], None)
    with_physics = [e for e in todo if parsed[e][0] in PHYSICS_METHODS]
    if with_physics:
        with open_physics(case, workers, data.mesh_sha256) as physics:
            train_all(with_physics, physics)
    ordered = [rows[e] for e in entries]
    plot_learning_curves(ordered, out / "validation-error.png")
    (out / "table.md").write_text(markdown_table(ordered))
    return ordered


def _train_one(entry, settings, data, data_path, case, out, physics, log) -> dict:
    from surrogates.train import train

    last = [-LOG_SECONDS]

    def progress(item: dict) -> None:
        if item["seconds"] - last[0] >= LOG_SECONDS:
            last[0] = item["seconds"]
            log(
                f"{entry}: epoch {item['epoch']}  validation C_D error {item['validation_cd_error']:.2e}  "
                f"gradient error {item['validation_gradient_error']:.2e}  lr {item['lr']:.1e}  "
                f"{item['seconds']:.0f} s"
            )

    result = train(
        data,
        settings,
        dataset_record(data_path, out / f"{entry}.pt") | {"case": case.name},
        progress,
        physics=physics,
    )
    save_surrogate(result.surrogate, out / f"{entry}.pt")
    row = {
        "method": entry,
        "settings": {key: getattr(settings, key) for key in ("lr", "batch", "tau", "damping", "schedule")},
        "metrics": result.metrics,
        "history": _thinned(
            [
                [h["seconds"], h["epoch"], h["validation_cd_error"], h["validation_gradient_error"]]
                for h in result.history
            ]
        ),
    }
    write_json(row, out / f"{entry}.json")
    if result.metrics["interrupted"]:  # the training loop caught Ctrl-C or SIGTERM: the methods after stop
        raise InterruptedWorkError(
            f"interrupted in {entry} after {result.metrics['epochs']} epochs; its best network so far is "
            f"saved in {out / f'{entry}.pt'}"
        )
    return row


def _thinned(points: list[list[float]], factor: float = 1.02) -> list[list[float]]:
    """Learning-curve points [seconds, epoch, …] whose epochs grow by at least `factor` (first and last
    kept), so that a curve on logarithmic axes keeps its shape in a few hundred points."""
    kept = points[:1]
    for point in points[1:-1]:
        if point[1] >= factor * kept[-1][1] + 1:
            kept.append(point)
    return kept + points[-1:] if len(points) > 1 else kept


def markdown_table(rows: list[dict]) -> str:
    """Test C_D error (median, p95, max), gradient cosine and error, field error, epochs, seconds, solver
    calls and why training stopped, per entry."""
    lines = [
        "| method | C_D err median | p95 | max | grad cosine | grad err | field err | epochs | s "
        "| FEM physics calls | stop |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row["metrics"]
        calls = sum(m.get("physics_calls", {}).values())
        lines.append(
            f"| {row['method']} | {m['cd_error_median']:.2e} | {m['cd_error_p95']:.2e} "
            f"| {m['cd_error_max']:.2e} | {m['gradient_cosine_median']:.4f} "
            f"| {m['gradient_error_median']:.2e} | {m['field_error_median']:.2e} | {m['epochs']} "
            f"| {m['train_seconds']:.0f} | {calls} | {m['stop']} |"
        )
    return "\n".join(lines) + "\n"
