"""Half-inverse gradients (HIG): one update of the network from the SVD of the joint Jacobian.

Every residual a sample offers is stacked, scaled so that `½|r|²` is the batch sum of the Sobolev (or dp)
loss in normalised units (σ_y, σ_c the training std of the outputs, m shape parameters, k POD modes):
- state: the FEM residual of the predicted state `Φᵀ R(w̄ + Φ y_i) / ρ` with rows `Φᵀ J_i Φ ∂y_i/∂θ / ρ`
  (`hig`), or the misfit `(y_i − y_FEM,i) / (σ_y √k)` with rows `∂y_i/∂θ / (σ_y √k)` (`hig-sobolev`);
- values: `√(2β) (c_i − c_FEM,i) / σ_c` for c = (C_D, C_L), rows `√(2β) ∂c_i/∂θ / σ_c`;
- gradients (γ > 0): `√(2γ/m) (∂C_D,i/∂s − (dC_D/ds)_adjoint,i) / σ_CD`, rows `∂/∂θ` of the same.
Stacked over the batch into `J_θ ∈ R^{B(k+2+m)×P}`. With `J_θ = U Σ Vᵀ` and singular values below
`τ σ_max` dropped, the update is `Δθ = −η V f(Σ) Uᵀ r` with `f(σ) = σ^{−1/2}`, or with damping λ the
square root of the Levenberg–Marquardt factor, `f(σ) = (σ / (σ² + λ σ_max²))^{1/2}` (a plain step, no
optimiser state).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call, grad, jacrev, vmap

from surrogates.network import DragNet
from surrogates.physics import Physics, run_batch, start_batch
from surrogates.pod import POD
from surrogates.step_clock import StepClock

NO_CLOCK = StepClock(enabled=False)

BYTES_PER_ENTRY = 8 * 2  # the Jacobian and the network-Jacobian work space of about the same size


def half_inverse_factor(sigma: torch.Tensor, damping: float) -> torch.Tensor:
    """f(σ) of the update `V f(Σ) Uᵀ`: σ^{−1/2}, damped to (σ / (σ² + λ σ_max²))^{1/2} for λ > 0."""
    return torch.sqrt(sigma / (sigma**2 + damping * sigma.max() ** 2))


def move_parameters(net: torch.nn.Module, step: torch.Tensor) -> None:
    """Add the flat parameter vector `step` (P,) to the network's weights (in `parameters()` order)."""
    with torch.no_grad():
        offset = 0
        for p in net.parameters():
            p += step[offset : offset + p.numel()].reshape(p.shape)
            offset += p.numel()


def checked_half_inverse_step(
    net: torch.nn.Module, residuals: Callable[[dict[str, torch.Tensor]], torch.Tensor], tau: float, lr: float
) -> float:
    """One `half_inverse_update` of `net` over the residuals θ ↦ r (M,) (a function of its named
    parameters), undone if it raises |r| (the half-inverse step is not scale-free). Returns the learning
    rate for the next step: `lr`, halved after an undone one."""
    parameters = {name: p.detach() for name, p in net.named_parameters()}
    r = residuals(parameters).detach()
    jacobian = jacrev(residuals)(parameters)
    flat = torch.cat([jacobian[name].reshape(len(r), -1) for name in parameters], dim=1)
    step, _ = half_inverse_update(flat, r, tau, lr)
    move_parameters(net, step)
    with torch.no_grad():
        if residuals({name: p.detach() for name, p in net.named_parameters()}).norm() <= r.norm():
            return lr
    move_parameters(net, -step)
    return lr / 2


def half_inverse_update(
    jacobian: torch.Tensor,
    residual: torch.Tensor,
    tau: float,
    lr: float,
    damping: float = 0.0,
    clock: StepClock = NO_CLOCK,
) -> tuple[torch.Tensor, int]:
    """Δθ (P,) = −lr V f(Σ) Uᵀ r for J (M, P) and r (M,), keeping σ ≥ τ σ_max; also the rank kept.

    For M ≪ P the SVD comes from the Gram matrix: J Jᵀ = U Σ² Uᵀ (M × M), and V = Jᵀ U Σ⁻¹, so
    Δθ = −lr Jᵀ U f(Σ) Σ⁻¹ Uᵀ r without forming V (σ² resolves τ down to about 1e-7). The clock's `svd`
    phase holds the decomposition, its `update` phase the product that forms Δθ.
    """
    if jacobian.shape[0] > jacobian.shape[1]:
        with clock.phase("svd"):
            u, sigma, vh = torch.linalg.svd(jacobian, full_matrices=False)
            keep = sigma >= tau * sigma[0]
            factor = half_inverse_factor(sigma, damping)[keep]
        with clock.phase("update"):
            return -lr * (vh[keep].T @ ((u[:, keep].T @ residual) * factor)), int(keep.sum())
    with clock.phase("svd"):
        squares, u = torch.linalg.eigh(jacobian @ jacobian.T)
        sigma = torch.sqrt(squares.clamp_min(0.0))
        keep = sigma >= tau * sigma.max()
        factor = half_inverse_factor(sigma, damping)[keep] / sigma[keep]
        coefficients = (u[:, keep].T @ residual) * factor
    with clock.phase("update"):
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


def check_memory(net: DragNet, batch_size: int, device: str, gradient_rows: bool = True) -> int:
    """Bytes the HIG update needs; refuses (ValueError) a configuration that would not fit."""
    n_parameters = sum(p.numel() for p in net.parameters())
    n_outputs = net.n_modes + 2 + (net.n_params if gradient_rows else 0)
    need = jacobian_bytes(batch_size, n_outputs, n_parameters)
    free = available_bytes(device)
    if need > 0.8 * free:
        raise ValueError(
            f"hig: the joint Jacobian ({batch_size}·{n_outputs} rows × {n_parameters} parameters) and its "
            f"SVD need {need / 1e9:.1f} GB, more than the {free / 1e9:.1f} GB free on {device}; "
            "lower --batch, the POD modes or the network width"
        )
    return need


def network_jacobian(
    net: DragNet, s: torch.Tensor, re: torch.Tensor, gradient: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (B, n) = (y (k), C_D, C_L[, ∂C_D/∂s (m)]) per sample in physical units, and their
    Jacobians (B, n, P) with respect to the parameters, in `net.parameters()` order."""
    params = {name: p.detach() for name, p in net.named_parameters()}
    buffers = dict(net.named_buffers())

    def drag(p, s_i, re_i):
        return functional_call(net, (p, buffers), (s_i[None], re_i[None]))[1][0]

    def outputs(p, s_i, re_i):
        y, cd, cl = functional_call(net, (p, buffers), (s_i[None], re_i[None]))
        parts = [y[0], cd, cl] + ([grad(drag, argnums=1)(p, s_i, re_i)] if gradient else [])
        out = torch.cat(parts)
        return out, out

    jac, values = vmap(jacrev(outputs, has_aux=True), in_dims=(None, 0, 0))(params, s, re)
    n = values.shape[1]
    return values, torch.cat([jac[name].reshape(len(s), n, -1) for name in params], dim=2)


def joint_system(
    net: DragNet,
    data: dict[str, torch.Tensor],
    beta: float,
    gamma: float,
    physics: Physics | None = None,
    pod: POD | None = None,
    scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint Jacobian J_θ (B·n, P) and stacked residuals r (B·n,) of a batch; ½|r|² is the loss.

    With `physics` the state rows are the FEM residual (its reduced Jacobians are computed in the solver's
    processes while the network Jacobian is formed), else the POD-coefficient misfit against `data["y"]`.
    With γ > 0 the adjoint-gradient rows against `data["dcd"]` are stacked too.
    """
    k, m = net.n_modes, net.n_params
    std = net.out_std
    pending = None
    if physics is not None:
        with torch.no_grad():
            y = net(data["s"], data["re"])[0]
        s_np, re_np = data["s"].cpu().numpy(), data["re"].cpu().numpy()
        states = pod.reconstruct(y.cpu().numpy())
        calls = [(s_np[i], re_np[i], states[i]) for i in range(len(states))]
        fem_residual = np.stack(run_batch(physics, "residual", calls)) @ pod.basis / scale
        pending = start_batch(physics, "reduced_jacobian", [(*call, pod.basis) for call in calls])
    values, jac = network_jacobian(net, data["s"], data["re"], gradient=gamma > 0)  # overlaps the solver
    root_beta = float(np.sqrt(2 * beta))
    rows = [root_beta * jac[:, k : k + 2] / std[None, k:, None]]
    residuals = [root_beta * (values[:, k : k + 2] - data["c"]) / std[k:]]
    if pending is not None:
        reduced = torch.as_tensor(np.stack(pending.result()) / scale).to(values)  # (B, k, k)
        rows.insert(0, reduced @ jac[:, :k])
        residuals.insert(0, torch.as_tensor(fem_residual).to(values))
    else:
        rows.insert(0, jac[:, :k] / (std[None, :k, None] * np.sqrt(k)))
        residuals.insert(0, (values[:, :k] - data["y"]) / (std[:k] * np.sqrt(k)))
    if gamma > 0:
        root_gamma = float(np.sqrt(2 * gamma / m))
        rows.append(root_gamma * jac[:, k + 2 :] / std[k])
        residuals.append(root_gamma * (values[:, k + 2 :] - data["dcd"]) / std[k])
    stacked = torch.cat(rows, dim=1)
    return stacked.reshape(-1, stacked.shape[2]), torch.cat(residuals, dim=1).reshape(-1)


def hig_step(
    net: DragNet,
    data: dict[str, torch.Tensor],
    beta: float,
    gamma: float,
    tau: float,
    lr: float,
    damping: float = 0.0,
    physics: Physics | None = None,
    pod: POD | None = None,
    scale: float = 1.0,
    clock: StepClock = NO_CLOCK,
) -> dict[str, float]:
    """One HIG update of `net` on a batch (`joint_system`); returns the loss before it and the rank kept.
    The clock's phases: `network` (network Jacobian), `physics` (waiting for the solver), `svd`, `update`."""
    with clock.phase("network"):
        rows, r = joint_system(net, data, beta, gamma, physics, pod, scale)
    delta, rank = half_inverse_update(rows, r, tau, lr, damping, clock)
    with clock.phase("update"), torch.no_grad():
        offset = 0
        for p in net.parameters():
            p.add_(delta[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
    return {"loss": 0.5 * float(torch.sum(r**2)), "rank": rank}
