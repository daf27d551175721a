"""HIG update cost: the Gram-matrix route against LAPACK's SVD for the joint Jacobian of a batch.

`.venv/bin/python bench/hig_update.py [--parameters 38818] [--outputs 34] [--device auto]`
The default sizes are those of the cylinder Re 1–40 network (3 × 128, 9 parameters + log Re in, 32 POD
modes + C_D + C_L out). Prints a Markdown table: seconds per update for each batch size and both routes,
and the largest difference between the two updates (relative to the update's size).
"""

from __future__ import annotations

import argparse
import time

import torch

from surrogates.half_inverse import half_inverse_update


def svd_update(jacobian: torch.Tensor, residual: torch.Tensor, tau: float, lr: float) -> torch.Tensor:
    """The same update from `torch.linalg.svd` (the reference route)."""
    u, sigma, vh = torch.linalg.svd(jacobian, full_matrices=False)
    keep = sigma >= tau * sigma[0]
    return -lr * (vh[keep].T @ ((u[:, keep].T @ residual) / torch.sqrt(sigma[keep])))


def timed(function, repeats: int, device: str) -> tuple[float, object]:
    result = function()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameters", type=int, default=38818)
    parser.add_argument("--outputs", type=int, default=34, help="outputs per sample (k + 2)")
    parser.add_argument("--batches", default="8,16,32,64")
    parser.add_argument("--tau", type=float, default=1e-5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    generator = torch.Generator(device=device).manual_seed(0)
    threads = torch.get_num_threads()
    print(f"device {device}, {threads} threads, P = {args.parameters}, k + 2 = {args.outputs}\n")
    print("| batch | rows | Jacobian MB | Gram s | SVD s | speed-up | rank | max rel. difference |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in args.batches.split(",")):
        rows = batch * args.outputs
        # A Jacobian with a decaying spectrum, as network Jacobians have.
        scales = torch.logspace(0, -8, rows, dtype=torch.float64, device=device)
        jacobian = scales[:, None] * torch.randn(
            rows, args.parameters, dtype=torch.float64, device=device, generator=generator
        )
        residual = torch.randn(rows, dtype=torch.float64, device=device, generator=generator)
        gram_seconds, (gram, rank) = timed(
            lambda j=jacobian, r=residual: half_inverse_update(j, r, args.tau, 1.0), args.repeats, device
        )
        svd_seconds, reference = timed(
            lambda j=jacobian, r=residual: svd_update(j, r, args.tau, 1.0), args.repeats, device
        )
        difference = float((gram - reference).abs().max() / reference.abs().max())
        megabytes = 8 * rows * args.parameters / 1e6
        print(
            f"| {batch} | {rows} | {megabytes:.0f} | {gram_seconds:.3f} | {svd_seconds:.3f} "
            f"| {svd_seconds / gram_seconds:.1f} | {rank} | {difference:.1e} |"
        )


if __name__ == "__main__":
    main()
