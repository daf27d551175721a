"""The drag surrogate trained where design loops query it: on the path of optima, to second order.

A design loop asks the drag surrogate for its minimum under each condition's constraints, and for the
drag of optimal bodies at other Reynolds numbers. Both answers depend on the surrogate near the family of
optima, to second order: the minimum moves by H⁻¹ times the error of the tangent gradient. So the samples
are the optima themselves (and the shapes where the surrogate puts its minimum), labelled with C_D, the
adjoint gradient and the exact Hessian (one FEM solve and one Hessian give m(m+1)/2 + m + 1 numbers),
and the loss is Sobolev of order 0, 1 or 2, relative (C_D and its curvature change 10× over Re 1–40):

    L = mean_i ((f_i − C_i)/C_i)²
        + γ₁ mean_i |∇f_i − g_i|² / (m C_i²)            (order ≥ 1, samples with a gradient)
        + γ₂ mean_i |∇²f_i − H_i|²_F / (m² C_i²)         (order 2, samples with a Hessian)

for f the network's C_D at (s_i, Re_i). Full-batch Adam with a cosine-decayed rate, then L-BFGS.
`PathSamples.newton_targets` adds the virtual samples of physical gradients: the second-order model's
value and gradient at the constrained Newton step from a sample (the solver's local inverse says where
the minimum is); `hig_fit` takes half-inverse steps on the same residuals; `dp_gradient` is
differentiable physics through the surrogate's minimum (implicit differentiation of its stationarity).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from surrogates.half_inverse import checked_half_inverse_step
from surrogates.lbfgs import minimise_lbfgs
from surrogates.network import DragNet


@dataclass
class PathSamples:
    """Labelled shapes: s (n, m), Re (n,), C_D (n,), gradient dC_D/ds (n, m; NaN rows: none) and the
    exact Hessian (n, m, m; NaN: none); `source` (n,): the rows of the shapes asked for that these are
    (None: all of them, in order)."""

    s: np.ndarray
    re: np.ndarray
    cd: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    source: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.cd)

    @classmethod
    def empty(cls, m: int) -> PathSamples:
        return cls(
            np.zeros((0, m)),
            np.zeros(0),
            np.zeros(0),
            np.zeros((0, m)),
            np.zeros((0, m, m)),
            np.zeros(0, int),
        )

    def joined(self, other: PathSamples) -> PathSamples:
        """These samples followed by `other`'s."""
        return PathSamples(
            *(np.concatenate([a, b]) for a, b in zip(self.arrays(), other.arrays(), strict=True))
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.s, self.re, self.cd, self.gradient, self.hessian

    def newton_targets(self, targets: np.ndarray) -> PathSamples:
        """Virtual samples at the shapes `targets` (n, m), one per sample with a Hessian: the gradient of
        each sample's second-order model there, g + H d (d = target − s; its part along the constraints'
        tangent space is zero at a constrained Newton step inside the trust radius), and no value or
        Hessian (the model's value far from s is not trusted)."""
        has = ~np.isnan(self.hessian).any(axis=(1, 2))
        d = targets - self.s[has]
        gradient = self.gradient[has] + np.einsum("nij,nj->ni", self.hessian[has], d)
        m = self.s.shape[1]
        n = len(d)
        return PathSamples(targets, self.re[has], np.full(n, np.nan), gradient, np.full((n, m, m), np.nan))


@dataclass(frozen=True)
class PathTraining:
    """Sobolev `order` (0 values, 1 + gradients, 2 + Hessians), weights γ₁ and γ₂, the network's size and
    Adam's steps and initial rate (cosine-decayed to 1 % of it), then at most `lbfgs` iterations of
    L-BFGS (strong Wolfe line search) on the full batch: Adam finds the basin, L-BFGS converges in it
    (on the 36 optima of an atlas, loss 8e-4 after Adam, 8e-7 after L-BFGS)."""

    order: int = 2
    gamma1: float = 1.0
    gamma2: float = 0.1
    width: int = 64
    depth: int = 3
    steps: int = 500
    lr: float = 3e-3
    lbfgs: int = 1000
    seed: int = 0

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when nothing)."""
        found = [] if self.order in (0, 1, 2) else [f"order must be 0, 1 or 2, got {self.order}"]
        if not (self.steps >= 1 and self.width >= 1 and self.depth >= 1):
            found.append("steps, width and depth must be ≥ 1")
        if self.lbfgs < 0:
            found.append("lbfgs must be ≥ 0")
        if not (self.lr > 0 and self.gamma1 >= 0 and self.gamma2 >= 0):
            found.append("lr must be > 0 and the weights γ ≥ 0")
        return found


def network_hessian(net: DragNet, s: torch.Tensor, re: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """C_D (B,), ∇_s C_D (B, m) and ∇²_s C_D (B, m, m) of the network at s (B, m), re (B,), differentiable
    in the weights (`s` must require gradients)."""
    _, cd, _ = net(s, re)
    (gradient,) = torch.autograd.grad(cd.sum(), s, create_graph=True)
    rows = [torch.autograd.grad(gradient[:, i].sum(), s, create_graph=True)[0] for i in range(s.shape[1])]
    return cd, gradient, torch.stack(rows, dim=1)


def path_loss(net: DragNet, data: dict[str, torch.Tensor], settings: PathTraining) -> torch.Tensor:
    """The relative Sobolev loss of the module's docstring on tensors of `PathSamples` (`tensors`); the
    network's Hessian is formed only at the samples with a Hessian label. A sample without a value label
    (a Newton target's) scales its misfits by the network's own C_D there."""
    s = data["s"].detach().requires_grad_(settings.order >= 1)
    m = s.shape[1]
    _, cd, _ = net(s, data["re"])
    known = data["has_value"]
    scale = torch.where(known, data["cd"], cd.detach())
    loss = torch.sum(((cd[known] - scale[known]) / scale[known]) ** 2) / max(int(known.sum()), 1)
    if settings.order >= 1:
        (gradient,) = torch.autograd.grad(cd.sum(), s, create_graph=True)
        has = data["has_gradient"]
        misfit = (gradient[has] - data["gradient"][has]) / scale[has, None]
        loss = loss + settings.gamma1 * torch.sum(misfit**2) / (m * max(int(has.sum()), 1))
    has = data["has_hessian"]
    if settings.order == 2 and bool(has.any()):
        x = data["s"][has].detach().requires_grad_(True)
        hessian = network_hessian(net, x, data["re"][has])[2]
        misfit = (hessian - data["hessian"][has]) / scale[has, None, None]
        loss = loss + settings.gamma2 * torch.sum(misfit**2) / (m * m * int(has.sum()))
    return loss


def tensors(samples: PathSamples) -> dict[str, torch.Tensor]:
    """The samples as float64 tensors, with masks `has_value`, `has_gradient`, `has_hessian` (n,) and NaN
    labels zeroed."""
    has_value = ~np.isnan(samples.cd)
    has_gradient = ~np.isnan(samples.gradient).any(axis=1)
    has_hessian = ~np.isnan(samples.hessian).any(axis=(1, 2))
    as_tensor = lambda a: torch.as_tensor(np.nan_to_num(a), dtype=torch.float64)  # noqa: E731
    return {
        "s": as_tensor(samples.s),
        "re": as_tensor(samples.re),
        "cd": as_tensor(samples.cd),
        "gradient": as_tensor(samples.gradient),
        "hessian": as_tensor(samples.hessian),
        "has_value": torch.as_tensor(has_value),
        "has_gradient": torch.as_tensor(has_gradient),
        "has_hessian": torch.as_tensor(has_hessian),
    }


def new_network(samples: PathSamples, settings: PathTraining) -> DragNet:
    """A drag-only `DragNet` (no POD modes) normalised on the samples' (s, ln Re) and C_D."""
    torch.manual_seed(settings.seed)
    net = DragNet(samples.s.shape[1], 0, settings.width, settings.depth)
    inputs = torch.as_tensor(np.column_stack([samples.s, np.log(samples.re)]))
    outputs = torch.as_tensor(np.column_stack([samples.cd, np.zeros_like(samples.cd)]))
    net.set_normalisation(inputs, outputs)
    return net


def fit_path(
    samples: PathSamples, settings: PathTraining, net: DragNet | None = None
) -> tuple[DragNet, float]:
    """Train `net` (default: `new_network`) on the samples by the relative Sobolev loss of `settings`;
    returns the network with the least loss and that loss."""
    problems = settings.problems()
    if problems:
        raise ValueError("path training settings: " + "; ".join(problems))
    if not len(samples):
        raise ValueError("no samples to train the drag surrogate on")
    net = new_network(samples, settings) if net is None else net
    data = tensors(samples)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.lr)
    best, best_state = math.inf, copy.deepcopy(net.state_dict())
    for step in range(settings.steps):
        for group in optimiser.param_groups:
            group["lr"] = settings.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / settings.steps)))
        optimiser.zero_grad()
        loss = path_loss(net, data, settings)
        if loss.item() < best:
            best, best_state = loss.item(), copy.deepcopy(net.state_dict())
        loss.backward()
        optimiser.step()
    net.load_state_dict(best_state)
    if settings.lbfgs:
        minimise_lbfgs(net.parameters(), lambda: path_loss(net, data, settings), settings.lbfgs)
        loss = path_loss(net, data, settings).item()
        if not loss < best:  # L-BFGS failed (NaN or no progress): Adam's weights stay
            net.load_state_dict(best_state)
        best = min(best, loss)
    return net, best


def sobolev_residuals(net: DragNet, data: dict[str, torch.Tensor], settings: PathTraining):
    """The function θ ↦ r (M,) whose ½|r|² is the batch sum of `path_loss`'s terms for the samples `data`
    (`tensors`): relative value misfits (samples with a value), √(γ₁/m) relative gradient misfits and
    √γ₂/m relative Hessian misfits (orders ≥ 1 and 2; rows of missing labels are zero)."""
    s, re, known = data["s"], data["re"], data["has_value"]
    m = s.shape[1]

    def residuals(params: dict[str, torch.Tensor]) -> torch.Tensor:
        def drag(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            return functional_call(net, params, (x[None], r[None]))[1][0]

        cd = vmap(drag)(s, re)
        scale = torch.where(known, data["cd"], cd.detach())
        parts = [((cd - scale) / scale * 2**0.5)[known]]
        if settings.order >= 1:
            misfit = (vmap(jacrev(drag))(s, re) - data["gradient"]) / scale[:, None]
            parts.append(
                (misfit * data["has_gradient"][:, None]).reshape(-1) * (2 * settings.gamma1 / m) ** 0.5
            )
        if settings.order == 2:
            misfit = (vmap(jacrev(jacrev(drag)))(s, re) - data["hessian"]) / scale[:, None, None]
            mask = data["has_hessian"][:, None, None]
            parts.append((misfit * mask).reshape(-1) * (2 * settings.gamma2) ** 0.5 / m)
        return torch.cat(parts)

    return residuals


def hig_fit(
    samples: PathSamples,
    settings: PathTraining,
    net: DragNet,
    steps: int,
    batch: int = 8,
    tau: float = 1e-4,
    lr: float = 0.3,
) -> DragNet:
    """`steps` half-inverse updates (`half_inverse_update`, truncation `tau`) of `net` over the stacked
    `sobolev_residuals` of random batches of `batch` samples; an update that raises the batch's residual
    is undone and the rate halved (the half-inverse step is not scale-free)."""
    data = tensors(samples)
    generator = torch.Generator().manual_seed(settings.seed)
    for _ in range(steps):
        rows = torch.randperm(len(samples), generator=generator)[:batch]
        residuals = sobolev_residuals(net, {k: v[rows] for k, v in data.items()}, settings)
        lr = checked_half_inverse_step(net, residuals, tau, lr)
    return net


def dp_gradient(
    net: DragNet, s: np.ndarray, re: np.ndarray, tangent: np.ndarray, fem_gradient: np.ndarray
) -> list[torch.Tensor]:
    """∂/∂θ of Σ_i C_FEM(s*_i(θ)) / C_FEM,i where s*_i is the network's minimum under fixed active
    constraints (tangent projectors P_i (n, m, m)): by implicit differentiation of P ∇f(s*) = 0,
    ds*/dθ = −(P ∇²f P)⁺ P ∂∇f/∂θ, so the gradient is −∂/∂θ Σ_i v_iᵀ ∇f(s*_i; θ) with
    v_i = (P ∇²f P)⁺ P g_i, g_i the FEM's relative gradient (n, m) at s* (n, m), re (n,).
    Returns one tensor per network parameter."""
    x = torch.as_tensor(s, dtype=torch.float64).requires_grad_(True)
    _, gradient, hessian = network_hessian(net, x, torch.as_tensor(re, dtype=torch.float64))
    P = torch.as_tensor(tangent, dtype=torch.float64)
    reduced = (P @ hessian.detach() @ P).numpy()
    g = np.einsum("nij,nj->ni", tangent, fem_gradient)
    v = np.stack(
        [np.linalg.pinv(h, rcond=1e-8, hermitian=True) @ gi for h, gi in zip(reduced, g, strict=True)]
    )
    coupling = -torch.sum(torch.as_tensor(v) * gradient)
    parameters = list(net.parameters())
    found = torch.autograd.grad(coupling, parameters, allow_unused=True)  # biases of C_D: no effect on ∇f
    return [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, found, strict=True)]
