"""Differentiable physics: the reduced residual `r = Φᵀ R(w̄ + Φ y)` as a torch operation.

Forward calls the solver's residual per sample; backward returns `∂L/∂y = Φᵀ Jᵀ Φ ∂L/∂r` with one
transposed-Jacobian product per sample (the adjoint operator). Physics work runs on the CPU (in parallel
processes when the physics is a pool); `y` may live on any device.
"""

from __future__ import annotations

import numpy as np
import torch

from surrogates.physics import Physics, run_batch
from surrogates.pod import POD


class ReducedResidual(torch.autograd.Function):
    """r_i = Φᵀ R(w̄ + Φ y_i; s_i, Re_i) for a batch: y (B, k) → r (B, k)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor, s: np.ndarray, re: np.ndarray, physics: Physics, pod: POD):
        states = pod.reconstruct(y.detach().cpu().numpy())
        residuals = run_batch(physics, "residual", [(s[i], re[i], states[i]) for i in range(len(states))])
        r = np.stack(residuals) @ pod.basis
        ctx.physics, ctx.pod, ctx.s, ctx.re, ctx.states = physics, pod, s, re, states
        return torch.as_tensor(r, dtype=y.dtype, device=y.device)

    @staticmethod
    def backward(ctx, grad_r: torch.Tensor):
        g = grad_r.detach().cpu().numpy()
        basis = ctx.pod.basis
        calls = [(ctx.s[i], ctx.re[i], ctx.states[i], basis @ g[i]) for i in range(len(g))]
        grad_y = np.stack(run_batch(ctx.physics, "jacobian_transpose_product", calls)) @ basis
        return torch.as_tensor(grad_y, dtype=grad_r.dtype, device=grad_r.device), None, None, None, None


def reduced_residual(
    y: torch.Tensor, s: np.ndarray, re: np.ndarray, physics: Physics, pod: POD
) -> torch.Tensor:
    """Batched Φᵀ R(w̄ + Φ y), differentiable in y through the solver's Jᵀ."""
    return ReducedResidual.apply(y, s, re, physics, pod)
