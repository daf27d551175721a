"""Half-inverse gradients (HIG): one update of the network from the SVD of the joint Jacobian.

Per sample i the physics output is the scaled reduced residual `r_i = Φᵀ R(w̄ + Φ y_i) / ρ` and the drag
consistency `√(2β) (c_i − c_FEM,i) / std(c)`, so that `½|r|²` is the batch sum of the dp loss. The rows
of the joint Jacobian are `Φᵀ J_i Φ ∂y_i/∂θ / ρ` and `√(2β) ∂c_i/∂θ / std(c)`, stacked over the batch
into `J_θ ∈ R^{B(k+2)×P}`. With `J_θ = U Σ Vᵀ` and singular values below `τ σ_max` dropped, the update is
`Δθ = −η V Σ^{−1/2} Uᵀ r` (a plain step, no optimiser state).
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from surrogates.network import DragNet
from surrogates.physics import Physics, run_batch, start_batch
from surrogates.pod import POD

BYTES_PER_ENTRY = 8 * 2  # the Jacobian and the network-Jacobian work space of about the same size


def half_inverse_update(
    jacobian: torch.Tensor, residual: torch.Tensor, tau: float, lr: float
) -> tuple[torch.Tensor, int]:
    """Δθ (P,) = −lr V Σ^{−1/2} Uᵀ r for J (M, P) and r (M,), keeping σ ≥ τ σ_max; also the rank kept.

    For M ≪ P the SVD comes from the Gram matrix: J Jᵀ = U Σ² Uᵀ (M × M), and V = Jᵀ U Σ⁻¹, so
    Δθ = −lr Jᵀ U Σ^{−3/2} Uᵀ r without forming V (σ² resolves τ down to about 1e-7).
    """
    if jacobian.shape[0] > jacobian.shape[1]:
        u, sigma, vh = torch.linalg.svd(jacobian, full_matrices=False)
        keep = sigma >= tau * sigma[0]
        return -lr * (vh[keep].T @ ((u[:, keep].T @ residual) / torch.sqrt(sigma[keep]))), int(keep.sum())
    squares, u = torch.linalg.eigh(jacobian @ jacobian.T)
    sigma = torch.sqrt(squares.clamp_min(0.0))
    keep = sigma >= tau * sigma.max()
    coefficients = (u[:, keep].T @ residual) / sigma[keep] ** 1.5
    return -lr * (jacobian.T @ (u[:, keep] @ coefficients)), int(keep.sum())


def jacobian_bytes(batch_size: int, n_outputs: int, n_parameters: int) -> int:
    """Memory the joint Jacobian and its SVD need, in bytes."""
    return BYTES_PER_ENTRY * batch_size * n_outputs * n_parameters


def available_bytes(device: str) -> int:
    """Free memory on the device: GPU memory for cuda, available RAM otherwise."""
    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(net: DragNet, batch_size: int, device: str) -> int:
    """Bytes the HIG update needs; refuses (ValueError) a configuration that would not fit."""
    n_parameters = sum(p.numel() for p in net.parameters())
    n_outputs = net.n_modes + 2
    need = jacobian_bytes(batch_size, n_outputs, n_parameters)
    free = available_bytes(device)
    if need > 0.8 * free:
        raise ValueError(
            f"hig: the joint Jacobian ({batch_size}·{n_outputs} rows × {n_parameters} parameters) and its "
            f"SVD need {need / 1e9:.1f} GB, more than the {free / 1e9:.1f} GB free on {device}; "
            "lower --batch, the POD modes or the network width"
        )
    return need


def network_jacobian(net: DragNet, s: torch.Tensor, re: torch.Tensor) -> torch.Tensor:
    """∂(y, C_D, C_L)_i/∂θ for each sample: (B, k+2, P), parameters in `net.parameters()` order."""
    params = {name: p.detach() for name, p in net.named_parameters()}
    buffers = dict(net.named_buffers())

    def outputs(p, s_i, re_i):
        y, cd, cl = functional_call(net, (p, buffers), (s_i[None], re_i[None]))
        return torch.cat([y[0], cd, cl])

    jac = vmap(jacrev(outputs), in_dims=(None, 0, 0))(params, s, re)
    return torch.cat([jac[name].reshape(len(s), net.n_modes + 2, -1) for name in params], dim=2)


def joint_system(
    net: DragNet, data: dict[str, torch.Tensor], physics: Physics, pod: POD, scale: float, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint Jacobian J_θ (B(k+2), P) and stacked outputs r (B(k+2),) of a batch; ½|r|² is the loss.

    The solver's reduced Jacobians are computed in its processes while the network Jacobian is formed.
    """
    k = net.n_modes
    s_np, re_np = data["s"].cpu().numpy(), data["re"].cpu().numpy()
    with torch.no_grad():
        y, cd, cl = net(data["s"], data["re"])
    states = pod.reconstruct(y.cpu().numpy())
    calls = [(s_np[i], re_np[i], states[i]) for i in range(len(states))]
    residual = torch.as_tensor(np.stack(run_batch(physics, "residual", calls)) @ pod.basis / scale).to(y)
    pending = start_batch(physics, "reduced_jacobian", [(*call, pod.basis) for call in calls])
    jac = network_jacobian(net, data["s"], data["re"])  # overlaps with the solver's work
    reduced = torch.as_tensor(np.stack(pending.result()) / scale).to(y)  # (B, k, k)
    c_std = net.out_std[k:]
    root_beta = float(np.sqrt(2 * beta))
    rows = torch.cat([reduced @ jac[:, :k], root_beta * jac[:, k:] / c_std[None, :, None]], dim=1)
    mismatch = root_beta * (torch.stack([cd, cl], dim=1) - data["c"]) / c_std
    return rows.reshape(-1, rows.shape[2]), torch.cat([residual, mismatch], dim=1).reshape(-1)


def hig_step(
    net: DragNet,
    data: dict[str, torch.Tensor],
    physics: Physics,
    pod: POD,
    scale: float,
    beta: float,
    tau: float,
    lr: float,
) -> dict[str, float]:
    """One HIG update of `net` on a batch; returns the loss before it, the rank kept and the SVD seconds."""
    rows, r = joint_system(net, data, physics, pod, scale, beta)
    start = time.perf_counter()
    delta, rank = half_inverse_update(rows, r, tau, lr)
    svd_seconds = time.perf_counter() - start
    with torch.no_grad():
        offset = 0
        for p in net.parameters():
            p.add_(delta[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
    return {"loss": 0.5 * float(torch.sum(r**2)), "rank": rank, "svd_seconds": svd_seconds}
