"""`bench-train`: the five training methods side by side on one dataset, network and wall-clock budget.

Each method's result (test metrics, seconds, solver calls, validation history) is stored in
`OUT/<method>.json` as soon as it is trained, so a rerun resumes with the methods still missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from shapeopt.cases import Case
from shapeopt.data.physics_pool import open_physics
from shapeopt.data.settings import PhysicsSettings
from shapeopt.data.training import read_dataset_for
from shapeopt.files import write_json
from shapeopt.viz.plots import plot_learning_curves
from surrogates.settings import METHODS, PHYSICS_METHODS, REGISTRY, settings_for
from surrogates.train import train

LOG_SECONDS = 10.0  # at most one progress line per method every this many seconds


def bench_train(
    case: Case,
    data_path: Path,
    out: Path,
    budget_seconds: float = PhysicsSettings.budget_seconds,
    methods: tuple[str, ...] = METHODS,
    workers: int = PhysicsSettings.workers,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train each method for `budget_seconds`; returns one result row per method (also in `out`)."""
    data = read_dataset_for(case, data_path)
    out.mkdir(parents=True, exist_ok=True)
    rows, todo = {}, []
    for method in methods:
        record = out / f"{method}.json"
        if record.exists():
            rows[method] = json.loads(record.read_text())
            log(f"{method}: reusing {record}")
        else:
            todo.append(method)
    adam_methods = [m for m in todo if m not in PHYSICS_METHODS]
    physics_methods = [m for m in todo if m in PHYSICS_METHODS]
    for method in adam_methods:
        rows[method] = _train_one(method, data, data_path, case, out, budget_seconds, None, log)
    if physics_methods:
        with open_physics(case, workers, data.mesh_sha256) as physics:
            for method in physics_methods:
                rows[method] = _train_one(method, data, data_path, case, out, budget_seconds, physics, log)
    ordered = [rows[m] for m in methods]
    plot_learning_curves(ordered, out / "validation-error.png")
    (out / "table.md").write_text(markdown_table(ordered))
    return ordered


def _train_one(method, data, data_path, case, out, budget_seconds, physics, log) -> dict:
    settings = settings_for(method, epochs=10**9, budget_seconds=budget_seconds)

    last = [-LOG_SECONDS]

    def progress(item: dict) -> None:
        if item["seconds"] - last[0] >= LOG_SECONDS:
            last[0] = item["seconds"]
            log(
                f"{method}: epoch {item['epoch']}  validation C_D error {item['validation_cd_error']:.2e}  "
                f"{item['seconds']:.0f} s"
            )

    result = train(data, settings, {"case": case.name, "dataset": str(data_path)}, progress, physics=physics)
    result.surrogate.save(out / f"{method}.pt")
    row = {
        "method": method,
        "settings": REGISTRY[method].tuned,
        "metrics": result.metrics,
        "history": _thinned([[h["seconds"], h["validation_cd_error"]] for h in result.history]),
    }
    write_json(row, out / f"{method}.json")
    return row


def _thinned(points: list[list[float]], spacing: float = 0.5) -> list[list[float]]:
    """Learning-curve points at least `spacing` seconds apart (first and last kept)."""
    kept = points[:1]
    for point in points[1:-1]:
        if point[0] - kept[-1][0] >= spacing:
            kept.append(point)
    return kept + points[-1:] if len(points) > 1 else kept


def markdown_table(rows: list[dict]) -> str:
    """Test C_D error (median, p95, max), gradient cosine, field error, seconds, solver calls per method."""
    lines = [
        "| method | C_D err median | p95 | max | grad cosine | field err | epochs | s | FEM physics calls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row["metrics"]
        calls = sum(m.get("physics_calls", {}).values())
        lines.append(
            f"| {row['method']} | {m['cd_error_median']:.2e} | {m['cd_error_p95']:.2e} "
            f"| {m['cd_error_max']:.2e} "
            f"| {m['gradient_cosine_median']:.4f} | {m['field_error_median']:.2e} | {m['epochs']} "
            f"| {m['train_seconds']:.0f} | {calls} |"
        )
    return "\n".join(lines) + "\n"
