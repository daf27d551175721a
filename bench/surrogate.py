"""Surrogate benchmark: test metrics of supervised vs Sobolev training on one dataset, and query throughput.

`.venv/bin/python bench/surrogate.py --data data/cyl.h5 [--budget-seconds 300] [--device auto]`
(make the dataset first: `shapeopt dataset cases/cylinder-re1-40.toml --samples 400 --out data/cyl.h5`).
Prints Markdown tables; writes the trained surrogates next to the dataset.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from surrogates.datafile import read_dataset
from surrogates.settings import TrainSettings
from surrogates.train import train


def throughput(surrogate, data, batch: int = 10_000, repeats: int = 5) -> tuple[float, float]:
    """C_D predictions per second, without and with the gradient, for batches of `batch` shapes."""
    rng = np.random.default_rng(0)
    s = data.s[rng.integers(0, len(data), batch)]
    re = data.re[rng.integers(0, len(data), batch)]
    surrogate.meta["warn_outside"] = False
    rates = []
    for query in (surrogate.drag, surrogate.drag_gradient):
        query(s, re)
        start = time.perf_counter()
        for _ in range(repeats):
            query(s, re)
        rates.append(batch * repeats / (time.perf_counter() - start))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/cyl.h5"))
    parser.add_argument("--budget-seconds", type=float, default=300.0)
    parser.add_argument("--epochs", type=int, default=1_000_000, help="cap; the budget ends training first")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    data = read_dataset(args.data)
    print(
        f"Dataset {args.data}: {len(data)} samples, {data.failed} failed, {data.s.shape[1]} parameters, "
        f"{data.state.shape[1]} state values; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads\n"
    )
    print(
        "| method | C_D err median | C_D err p95 | C_D err max | grad cosine median | field err median "
        "| epochs | train s | C_D/s (10⁴ batch) | C_D+grad/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method in ("supervised", "sobolev"):
        settings = TrainSettings(
            method=method, epochs=args.epochs, budget_seconds=args.budget_seconds, device=args.device
        )
        result = train(data, settings, {"dataset": str(args.data)})
        result.surrogate.save(args.data.with_name(f"{args.data.stem}-{method}.pt"))
        m = result.metrics
        plain, with_grad = throughput(result.surrogate, data)
        print(
            f"| {method} | {m['cd_error_median']:.2e} | {m['cd_error_p95']:.2e} | {m['cd_error_max']:.2e} "
            f"| {m['gradient_cosine_median']:.4f} | {m['field_error_median']:.2e} | {m['epochs']} "
            f"| {m['train_seconds']:.0f} | {plain:.2e} | {with_grad:.2e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
