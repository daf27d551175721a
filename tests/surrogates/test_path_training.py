"""The drag surrogate's second-order training, its Newton-target labels and its DP gradient (no FEM).

References: finite differences of the network's gradient, the exact quadratic's values at Newton targets,
and finite differences of a functional of the network's own minimum, found by Newton's method in torch.
"""

from __future__ import annotations

import numpy as np
import torch

from surrogates.path_training import (
    PathSamples,
    PathTraining,
    dp_gradient,
    fit_path,
    hig_fit,
    network_hessian,
    new_network,
    path_loss,
    sobolev_residuals,
    tensors,
)

A = np.diag([1.0, 3.0])


def quadratic(s: np.ndarray, re: np.ndarray) -> PathSamples:
    """C_D = (1 + 5/Re)(1 + ½ (s − c)ᵀ A (s − c)), c = (0.2, −0.1): values, gradients and Hessians."""
    scale = 1 + 5 / re
    d = s - np.array([0.2, -0.1])
    cd = scale * (1 + 0.5 * np.einsum("ni,ij,nj->n", d, A, d))
    return PathSamples(s, re, cd, scale[:, None] * d @ A, scale[:, None, None] * A)


def samples(n: int, seed: int = 0) -> PathSamples:
    rng = np.random.default_rng(seed)
    return quadratic(rng.uniform(-0.5, 0.5, (n, 2)), np.exp(rng.uniform(0, np.log(40), n)))


def test_network_hessian_is_the_derivative_of_its_gradient():
    data = samples(4)
    net = new_network(data, PathTraining(width=16))
    s = torch.as_tensor(data.s).requires_grad_(True)
    re = torch.as_tensor(data.re)
    hessian = network_hessian(net, s, re)[2]
    h = 1e-6
    for i in range(2):
        step = torch.zeros_like(s)
        step[:, i] = h
        plus = network_hessian(net, (s + step).detach().requires_grad_(True), re)[1]
        minus = network_hessian(net, (s - step).detach().requires_grad_(True), re)[1]
        fd = (plus - minus) / (2 * h)
        assert torch.allclose(hessian[:, :, i], fd, rtol=1e-6, atol=1e-8)


def test_newton_target_labels_are_the_quadratic_itself():
    """For a quadratic C_D the second-order model is exact: the virtual gradient labels equal the
    function's; they carry no value and no Hessian."""
    data = samples(5)
    targets = np.random.default_rng(3).uniform(-0.5, 0.5, (5, 2))
    virtual = data.newton_targets(targets)
    exact = quadratic(targets, data.re)
    assert np.isnan(virtual.cd).all()
    assert np.allclose(virtual.gradient, exact.gradient, rtol=1e-12)
    assert np.isnan(virtual.hessian).all()


def _network_minimum(net, re: float) -> torch.Tensor:
    """The network's unconstrained minimum in s (2,) at `re`, by Newton's method from 0."""
    s = torch.zeros(1, 2, dtype=torch.float64)
    for _ in range(30):
        x = s.clone().requires_grad_(True)
        _, gradient, hessian = network_hessian(net, x, torch.tensor([re], dtype=torch.float64))
        s = (x - torch.linalg.solve(hessian[0], gradient[0])[None]).detach()
    return s


def test_second_order_labels_put_the_minimum_where_values_alone_miss():
    """From 8 samples, the order-2 network's minimum lies within 0.03 of the true one (0.2, −0.1) at three
    held-out Re; order 0's is at least 3× farther at the worst of them."""
    train, target = samples(8), torch.tensor([0.2, -0.1], dtype=torch.float64)
    worst = {}
    for order in (0, 2):
        net, _ = fit_path(train, PathTraining(order=order, width=32, steps=100, lr=1e-2, lbfgs=100))
        worst[order] = max(
            float(torch.linalg.norm(_network_minimum(net, re)[0] - target)) for re in (1.5, 6.0, 30.0)
        )
    assert worst[2] < 0.03
    assert worst[0] > 3 * worst[2]


def test_dp_gradient_is_the_derivative_through_the_minimum():
    """d/dθ of gᵀ s*(θ) for a fixed g (the FEM's gradient, frozen) against central differences along a
    random direction of the weights; no constraints (P = I)."""
    net, _ = fit_path(samples(12), PathTraining(order=2, width=16, steps=100, lr=1e-2, lbfgs=50))
    re, g = 7.0, np.array([0.4, -0.7])
    s_star = _network_minimum(net, re)
    analytic = dp_gradient(net, s_star.numpy(), np.array([re]), np.eye(2)[None], g[None])
    rng = torch.Generator().manual_seed(0)
    direction = [torch.randn(p.shape, generator=rng, dtype=torch.float64) for p in net.parameters()]
    slope = sum(float(torch.sum(a * d)) for a, d in zip(analytic, direction, strict=True))
    h, values = 1e-5, []
    for sign in (1, -1):
        with torch.no_grad():
            for p, d in zip(net.parameters(), direction, strict=True):
                p.add_(sign * h * d)
        values.append(float(torch.as_tensor(g) @ _network_minimum(net, re)[0]))
        with torch.no_grad():
            for p, d in zip(net.parameters(), direction, strict=True):
                p.sub_(sign * h * d)
    fd = (values[0] - values[1]) / (2 * h)
    assert abs(slope - fd) <= 1e-5 * max(1.0, abs(fd))


def test_tensors_mask_missing_labels():
    data = samples(3)
    data.gradient[1] = np.nan
    data.hessian[2] = np.nan
    t = tensors(data)
    assert t["has_gradient"].tolist() == [True, False, True]
    assert t["has_hessian"].tolist() == [True, True, False]
    assert torch.isfinite(t["hessian"]).all()


def test_half_inverse_residuals_are_the_loss_and_their_steps_lower_it():
    """½|r|² / n equals the Sobolev loss of order 2 (all labels present); 20 HIG steps lower it."""
    data = samples(8)
    settings = PathTraining(order=2, width=16)
    net = new_network(data, settings)
    t = tensors(data)
    parameters = {name: p.detach() for name, p in net.named_parameters()}
    r = sobolev_residuals(net, t, settings)(parameters)
    before = path_loss(net, t, settings).item()
    assert abs(0.5 * float(r @ r) / len(data) - before) <= 1e-12 * before
    hig_fit(data, settings, net, steps=20)
    assert path_loss(net, t, settings).item() < 0.5 * before
