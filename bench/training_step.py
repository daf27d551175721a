"""Time per training step, split into network Jacobian, physics, SVD/eigh and update, CPU against GPU.

`python bench/training_step.py cases/cylinder-re1-40.toml --data data/cyl.h5 [--samples 64]
[--methods hig,pg,dp,hig-sobolev] [--devices cpu,cuda] [--workers N] [--epochs 3] [--batch 16]`

Each method trains end to end (`surrogates.train.train`, its tuned settings, `--epochs` epochs) on the
first `--samples` samples of the dataset, once per device, with the FEM physics in `--workers` CPU
processes (default: one per core) shared by all runs. The table gives the median seconds per step (the
first step, the warm-up, left out) of each phase (`surrogates.step_clock`): `network` the forward and
backward passes or network Jacobians, `physics` the time spent sending batches to the solver's
processes and waiting for them, `SVD/eigh` the Gram matrix and its decomposition, `update` forming and
applying Δθ (HIG) or Adam's step; `other` is what no phase holds (batch assembly). The last column is
the CPU step time over this device's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import torch

from shapeopt.cases import load_case
from shapeopt.data.physics_pool import open_physics
from shapeopt.data.training import read_dataset_for
from surrogates.settings import PHYSICS_METHODS, settings_for
from surrogates.train import train

PHASES = ("network", "physics", "svd", "update", "other", "total")


def machine() -> str:
    """One line: processor cores, torch threads and the GPU if any."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, {gpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--methods", default="hig,pg,dp,hig-sobolev")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--samples", type=int, default=64, help="samples of the dataset to train on")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    case = load_case(args.case)
    data = read_dataset_for(case, args.data)
    rows = ("s", "re", "cd", "cl", "dcd", "dcl", "state")
    data = dataclasses.replace(data, **{name: getattr(data, name)[: args.samples] for name in rows})
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    print(f"{machine()}; {args.workers} solver processes; {len(data)} samples, batch {args.batch}\n")
    started = time.perf_counter()
    with open_physics(case, args.workers, data.mesh_sha256) as physics:
        print(f"solver processes ready in {time.perf_counter() - started:.1f} s\n", flush=True)
        print(
            "| method | device | steps | network s | physics s | SVD/eigh s | update s | other s | step s "
            "| CPU / this |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        cpu_step = {}
        for method in methods:
            for device in devices:
                settings = settings_for(
                    method, device=device, epochs=args.epochs, batch=args.batch, budget_seconds=1e9
                )
                fem = physics if method in PHYSICS_METHODS else None
                seconds = train(data, settings, {}, physics=fem).metrics["step_seconds"]
                if device == "cpu":
                    cpu_step[method] = seconds["total"]
                ratio = cpu_step[method] / seconds["total"] if method in cpu_step else float("nan")
                cells = " | ".join(f"{seconds[p]:.4f}" for p in PHASES)
                print(f"| {method} | {device} | {seconds['steps']} | {cells} | {ratio:.1f} |", flush=True)


if __name__ == "__main__":
    main()
