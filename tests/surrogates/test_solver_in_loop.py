"""Training with the solver in the loop: DP gradient, PG targets, HIG update, the process pool, training."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from shapeopt.cases import load_case
from shapeopt.cli import main
from shapeopt.fem.physics import FEMPhysics
from shapeopt.fem.problem import DragProblem
from surrogates.half_inverse import check_memory, half_inverse_update, joint_system
from surrogates.network import DragNet
from surrogates.physical_gradients import newton_targets
from surrogates.pod import fit_pod
from surrogates.solver_in_loop import reduced_residual
from tests.helpers import CASES, ROOT, shapeopt_command


@pytest.fixture(scope="module")
def setup():
    problem = DragProblem(load_case(CASES / "fourier4-re40.toml").with_overrides(level="coarse", re=10))
    s0 = np.zeros(problem.size)
    states = []
    for re in (4.0, 8.0, 16.0):  # states of the reference shape at three Re: a small POD
        problem.evaluate(s0, re=re)
        states.append(problem.state())
    physics = FEMPhysics(problem)
    pod = fit_pod(np.array(states), np.ones(len(states[0])), energy=1 - 1e-12, max_modes=2)
    return physics, pod, s0, np.array(states)


def test_dp_gradient_matches_finite_differences(setup):
    physics, pod, s0, _ = setup
    s = np.stack([s0, s0])
    re = np.array([6.0, 12.0])
    y = torch.tensor(
        pod.project(pod.mean[None, :].repeat(2, 0))
        + 0.3 * np.array([[1.0, -0.5], [0.2, 0.4]]) * pod.singular_values[None, :] / 10,
        dtype=torch.float64,
        requires_grad=True,
    )

    def loss(y_):
        return 0.5 * torch.sum(reduced_residual(y_, s, re, physics, pod) ** 2)

    value = loss(y)
    (grad,) = torch.autograd.grad(value, y)
    eps = 1e-6 * pod.singular_values.max()
    for i in range(2):
        for j in range(pod.size):
            e = torch.zeros_like(y)
            e[i, j] = eps
            fd = (loss(y.detach() + e) - loss(y.detach() - e)) / (2 * eps)
            assert abs(fd.item() - grad[i, j].item()) <= 1e-5 * grad.abs().max().item(), (i, j)


def test_pg_target_reduces_the_residual_quadratically(setup):
    physics, pod, s0, states = setup
    exact = pod.project(states[1:2])  # the solution at Re 8 lies in the span of the POD
    direction = np.array([[1.0, -0.7]]) * pod.singular_values[None, :]
    s, re = s0[None, :], np.array([8.0])
    before, after = [], []
    for size in (1e-3, 2.5e-4):
        y = exact + size * direction
        targets = newton_targets(y, s, re, physics, pod)
        before.append(np.linalg.norm(physics.residual(s0, 8.0, pod.reconstruct(y)[0])))
        after.append(np.linalg.norm(physics.residual(s0, 8.0, targets.states[0])))
    rate = np.log(after[0] / after[1]) / np.log(before[0] / before[1])
    assert rate > 1.8 and after[0] < 1e-2 * before[0], (before, after)
    problem = physics.problem
    reference = problem.evaluate(s0, re=8.0)
    assert np.allclose(targets.c[0], [reference.objective, reference.lift], rtol=1e-6)


def test_hig_update_equals_the_dense_formula_with_truncation():
    rng = np.random.default_rng(0)
    m, p, tau, lr = 6, 20, 1e-3, 0.3
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(rng.standard_normal((p, m)))
    sigma = np.array([5.0, 2.0, 0.5, 1e-2, 4e-3, 1e-6])  # the last two fall below τ σ_max = 5e-3
    jacobian = u @ np.diag(sigma) @ v.T
    r = rng.standard_normal(m)
    keep = slice(0, 4)
    expected = -lr * v[:, keep] @ ((u[:, keep].T @ r) / np.sqrt(sigma[keep]))
    delta, rank = half_inverse_update(torch.tensor(jacobian), torch.tensor(r), tau, lr)
    assert rank == 4
    assert np.allclose(delta.numpy(), expected, rtol=1e-9, atol=1e-12)
    # Tall Jacobians (more outputs than parameters) take the direct SVD: the same formula.
    tall, rank = half_inverse_update(torch.tensor(jacobian.T), torch.tensor(v @ u.T @ r), tau, lr)
    assert rank == 4
    expected_tall = -lr * u[:, keep] @ ((u[:, keep].T @ r) / np.sqrt(sigma[keep]))
    assert np.allclose(tall.numpy(), expected_tall, rtol=1e-9)


def test_hig_joint_system_is_consistent_with_the_dp_gradient(setup):
    """J_θᵀ r (J products, forward) equals the autograd gradient of ½|r|² through the solver's Jᵀ."""
    physics, pod, s0, states = setup
    torch.manual_seed(0)
    net = DragNet(len(s0), pod.size, width=8, depth=2)
    s = torch.tensor(np.stack([s0, s0, s0]))
    re = torch.tensor([5.0, 9.0, 14.0])
    outputs = torch.tensor(np.concatenate([pod.project(states), [[3.0, 0.0], [2.5, 0.01], [2.0, -0.01]]], 1))
    net.set_normalisation(torch.cat([s, torch.log(re)[:, None]], 1), outputs)
    data = {"s": s, "re": re, "c": torch.tensor([[3.1, 0.0], [2.6, 0.0], [2.1, 0.0]])}
    scale, beta = 0.5, 4.0
    rows, r = joint_system(net, data, beta, 0.0, physics, pod, scale)
    y, cd, cl = net(s, re)
    residual = reduced_residual(y, s.numpy(), re.numpy(), physics, pod) / scale
    mismatch = (torch.stack([cd, cl], 1) - data["c"]) / net.out_std[-2:]
    loss = 0.5 * torch.sum(residual**2) + beta * torch.sum(mismatch**2)  # the dp loss, summed
    loss.backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
    assert torch.allclose(rows.T @ r, gradient, rtol=1e-7, atol=1e-9 * gradient.abs().max())
    assert abs(0.5 * torch.sum(r**2).item() / loss.item() - 1) < 1e-12


def test_hig_refuses_a_jacobian_that_does_not_fit():
    net = DragNet(9, 32, width=2048, depth=4)
    with pytest.raises(ValueError, match="lower --batch"):
        check_memory(net, 10**6, "cpu")


def test_physics_pool_matches_one_process(setup):
    from shapeopt.data.physics_pool import PhysicsPool

    physics, pod, s0, states = setup
    calls = [(s0, re, states[i] + 1e-3 * pod.basis[:, 0]) for i, re in enumerate((4.0, 8.0, 16.0))]
    with PhysicsPool(physics.problem.case, workers=2) as pool:
        assert pool.mesh_sha256 == physics.problem.flow_mesh.sha256
        pooled = pool.map_async("newton_step", calls).result()
        coefficients = pool.map_async("coefficients", calls).result()
    for call, step, c in zip(calls, pooled, coefficients, strict=True):
        assert np.allclose(step, physics.newton_step(*call), rtol=1e-10, atol=1e-12)
        assert np.allclose(c, physics.coefficients(*call), rtol=1e-12)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from shapeopt.data.dataset import generate
    from surrogates.datafile import read_dataset

    case = load_case(CASES / "cylinder-re1-40.toml").with_overrides(level="coarse")
    path = tmp_path_factory.mktemp("tiny") / "d.h5"
    generate(case, path, 12)
    return read_dataset(path), FEMPhysics(DragProblem(case)), path


@pytest.mark.parametrize(
    "method, lr, factor",
    [("dp", 1e-2, 0.97), ("pg", 1e-2, 0.9), ("hig", 0.3, 0.7)],
)
@pytest.mark.slow
def test_solver_in_the_loop_training_lowers_its_loss(tiny, method, lr, factor):
    from surrogates.settings import TrainSettings
    from surrogates.train import train

    data, physics, _ = tiny
    settings = TrainSettings(method=method, epochs=20, batch=4, width=16, depth=2, lr=lr, lr_decay=0.1)
    result = train(data, settings, {}, physics=physics)
    losses = [h["validation_loss"] for h in result.history]
    # Plain gradients of the FEM residual (dp) are badly conditioned: its loss falls, but slowly.
    assert min(losses) < factor * losses[0] and losses[-1] < losses[0], losses
    assert result.surrogate.meta["method"] == method
    assert result.metrics["physics_calls"]["residual"] > 0
    if method == "hig":
        phases = result.metrics["step_seconds"]
        assert min(phases[p] for p in ("network", "physics", "svd", "update")) > 0
        assert max(phases[p] for p in ("network", "physics", "svd", "update")) < phases["total"]
        assert phases["other"] >= 0  # the phases exclude each other within a step


@pytest.mark.slow
def test_bench_train_compares_methods_and_resumes(tiny, tmp_path, capsys, monkeypatch):
    _, _, path = tiny
    out = tmp_path / "bench"
    base = ["cases/cylinder-re1-40.toml", "--level", "coarse", "--data", str(path), "--out", str(out)]
    methods = "supervised,hig,hig-sobolev:damping=0.001:lr=0.1"
    command = shapeopt_command(
        "bench-train", *base, "--budget-seconds", "1", "--methods", methods, "--workers", "1"
    )
    first = subprocess.run([*command, "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
    rows = json.loads(first.stdout)["rows"]
    assert [r["method"] for r in rows] == methods.split(",")
    assert rows[1]["metrics"]["physics_calls"]["reduced_jacobian"] > 0
    assert (rows[2]["settings"]["damping"], rows[2]["settings"]["lr"]) == (1e-3, 0.1)
    assert rows[2]["metrics"]["physics_calls"] == {}
    assert (out / "validation-error.png").stat().st_size > 10_000
    assert (out / "table.md").read_text().count("\n") == 5
    monkeypatch.chdir(ROOT)  # the rerun reads every record back: in this process, no training
    assert main(command[command.index("bench-train") :]) == 0
    assert capsys.readouterr().err.count("reusing") == 3

    # a batch too large for memory is refused before any work, in one line (in this process: no solve)
    train = [
        "train",
        str(CASES / "cylinder-re1-40.toml"),
        *base[1:5],
        "--method",
        "hig",
        "--batch",
        "100000000",
    ]
    train += ["--workers", "1"]
    code = main([*train, "--out", str(tmp_path / "x.pt")])
    refused = capsys.readouterr().err
    assert code == 2 and "lower --batch" in refused and len(refused.strip().splitlines()) == 1, refused


@pytest.mark.slow
def test_pg_on_fresh_designs_trains_on_solves_started_at_the_network(tiny):
    from surrogates.settings import TrainSettings
    from surrogates.train import train

    data, physics, _ = tiny
    settings = TrainSettings(
        method="pg-fresh", epochs=4, batch=8, width=16, depth=2, lr=1e-2, fresh_batch=4, lr_decay=0.1
    )
    result = train(data, settings, {}, physics=physics)
    losses = [h["validation_loss"] for h in result.history]
    assert min(losses[1:]) < losses[0], losses
    fresh = result.metrics["fresh"]
    # One batch per epoch (this physics solves at once), the one in flight at the end counted too.
    assert [h["fresh_samples"] for h in result.history] == [4, 8, 12, 16]
    assert fresh["solved"] == 20 and fresh["failed"] == 0
    # Every solve started from the network's state, and Newton converged from it in a few steps.
    assert fresh["restarted"] == 0 and all(1 <= n <= 6 for n in fresh["newton_iterations"])
    assert result.metrics["physics_calls"]["solution_from"] == 20
    s, _, admissible = physics.fresh_designs(data.seed, data.next_index, 4)
    assert admissible.all() and not np.isin(s[:, 0], data.s[:, 0]).any()  # designs no dataset holds
