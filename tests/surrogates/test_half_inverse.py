"""HIG over every residual a sample offers: the joint system and the update against dense formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call

from surrogates.half_inverse import half_inverse_update, hig_step, joint_system
from surrogates.methods import sobolev_loss
from surrogates.network import DragNet
from surrogates.settings import TrainSettings


def _tiny_problem(seed: int = 0):
    torch.manual_seed(seed)
    m, k, b = 3, 2, 4
    net = DragNet(m, k, width=5, depth=2)
    s = torch.rand(b, m, dtype=torch.float64)
    re = 1 + 9 * torch.rand(b, dtype=torch.float64)
    outputs = torch.randn(b, k + 2, dtype=torch.float64) * torch.tensor([1.0, 0.5, 2.0, 0.1]) + 1
    net.set_normalisation(torch.cat([s, torch.log(re)[:, None]], 1), outputs)
    data = {
        "s": s,
        "re": re,
        "y": outputs[:, :k],
        "c": outputs[:, k:],
        "dcd": torch.randn(b, m, dtype=torch.float64),
    }
    return net, data


def _dense_residuals(net: DragNet, data: dict, beta: float, gamma: float):
    """The residual vector as a function of the flat parameters, by plain autograd (double backward)."""
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    buffers = dict(net.named_buffers())
    k, m = net.n_modes, net.n_params
    std = net.out_std

    def residuals(theta: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            params[name] = theta[offset : offset + shape.numel()].view(shape)
            offset += shape.numel()
        rows = []
        for i in range(len(data["s"])):
            s_i = data["s"][i : i + 1].clone().requires_grad_(True)
            y, cd, cl = functional_call(net, (params, buffers), (s_i, data["re"][i : i + 1]))
            (dcd,) = torch.autograd.grad(cd.sum(), s_i, create_graph=True)
            rows += [
                (y[0] - data["y"][i]) / (std[:k] * np.sqrt(k)),
                np.sqrt(2 * beta) * (torch.cat([cd, cl]) - data["c"][i]) / std[k:],
                np.sqrt(2 * gamma / m) * (dcd[0] - data["dcd"][i]) / std[k],
            ]
        return torch.cat(rows)

    return residuals


@pytest.mark.parametrize("damping", [0.0, 1e-2])
def test_hig_with_gradient_rows_equals_the_dense_formula(damping):
    net, data = _tiny_problem()
    beta, gamma, tau, lr = 3.0, 20.0, 1e-4, 0.2
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    residuals = _dense_residuals(net, data, beta, gamma)
    r = residuals(theta).detach().numpy()
    jacobian = torch.autograd.functional.jacobian(residuals, theta).numpy()  # (B(k+2+m), P)

    rows, stacked = joint_system(net, data, beta, gamma)
    assert rows.shape == jacobian.shape == (4 * (2 + 2 + 3), theta.numel())
    assert np.allclose(stacked.numpy(), r, rtol=1e-12, atol=1e-12)
    assert np.allclose(rows.numpy(), jacobian, rtol=1e-9, atol=1e-11)

    # ½|r|² is the batch sum of the sobolev loss that Adam minimises.
    settings = TrainSettings(method="sobolev", beta=beta, gamma=gamma)
    sobolev = sobolev_loss(net, {key: value.clone() for key, value in data.items()}, settings)["total"]
    assert np.isclose(0.5 * r @ r, len(data["s"]) * sobolev.item(), rtol=1e-12)

    u, sigma, vt = np.linalg.svd(jacobian, full_matrices=False)
    keep = sigma >= tau * sigma[0]
    factor = np.sqrt(sigma[keep] / (sigma[keep] ** 2 + damping * sigma[0] ** 2))
    expected = -lr * vt[keep].T @ ((u[:, keep].T @ r) * factor)
    before = theta.clone()
    info = hig_step(net, data, beta, gamma, tau, lr, damping)
    after = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    assert info["rank"] == keep.sum()
    assert np.isclose(info["loss"], 0.5 * r @ r, rtol=1e-12)
    assert np.allclose((after - before).numpy(), expected, rtol=1e-7, atol=1e-10 * np.abs(expected).max())


def test_damping_bends_the_half_inverse_towards_the_gradient_for_small_singular_values():
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    v, _ = np.linalg.qr(rng.standard_normal((8, 3)))
    sigma = np.array([1.0, 1e-2, 1e-4])
    jacobian = torch.tensor(u @ np.diag(sigma) @ v.T)
    r = torch.tensor(u[:, 2])  # the residual along the weakest direction
    plain, _ = half_inverse_update(jacobian, r, 1e-6, 1.0)
    damped, _ = half_inverse_update(jacobian, r, 1e-6, 1.0, damping=1e-2)
    assert np.isclose(plain.norm().item(), 1e-4**-0.5)  # σ^{-1/2}: large steps along small σ
    assert np.isclose(damped.norm().item(), np.sqrt(1e-4 / (1e-8 + 1e-2)), rtol=1e-9)  # ≈ σ^{1/2} / √λ


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("damping", [0.0, 1e-2])
def test_hig_step_on_cuda_equals_the_cpu_step(damping):
    net, data = _tiny_problem()
    cpu = net.__class__(3, 2, 5, 2)
    cpu.load_state_dict(net.state_dict())
    gpu = net.to("cuda")
    before = torch.cat([p.detach().reshape(-1) for p in cpu.parameters()])
    on_cpu = hig_step(cpu, data, 3.0, 20.0, 1e-4, 0.2, damping)
    on_device = {key: value.to("cuda") for key, value in data.items()}
    on_gpu = hig_step(gpu, on_device, 3.0, 20.0, 1e-4, 0.2, damping)
    assert on_cpu["rank"] == on_gpu["rank"]
    step_cpu = torch.cat([p.detach().reshape(-1) for p in cpu.parameters()]) - before
    step_gpu = torch.cat([p.detach().cpu().reshape(-1) for p in gpu.parameters()]) - before
    # cuSOLVER's and LAPACK's eigh differ in rounding; the Gram route squares σ, so the update agrees to
    # about 1e-11 of its size (H200: 4.9e-11 plain, 1.3e-12 damped).
    assert (step_gpu - step_cpu).abs().max() < 1e-9 * step_cpu.abs().max()
