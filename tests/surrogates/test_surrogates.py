"""The learning side on synthetic data: POD, training, artifact round trip, compatibility, purity."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from surrogates import IncompatibleSurrogateError, load
from surrogates.artifact import OutsideTrainingBox
from surrogates.pod import fit_pod
from surrogates.settings import TrainSettings
from surrogates.train import split_indices, train
from tests.helpers import SYNTHETIC_SIZE, SYNTHETIC_SPEC, synthetic_dataset

M = SYNTHETIC_SIZE[0]  # shape parameters
SPEC = SYNTHETIC_SPEC


def test_pod_is_orthonormal_in_the_weighted_inner_product():
    data = synthetic_dataset()
    pod = fit_pod(data.state, data.weights, energy=1 - 1e-12)
    gram = pod.basis.T @ (data.weights[:, None] * pod.basis)
    assert np.allclose(gram, np.eye(pod.size), atol=1e-10)
    assert pod.size == 3  # the synthetic states live in a 3-dimensional affine space
    assert np.allclose(pod.reconstruct(pod.project(data.state)), data.state, atol=1e-10)


@pytest.fixture(scope="module")
def trained():
    settings = TrainSettings(method="sobolev", epochs=400, batch=32, width=32, depth=2, budget_seconds=60)
    return train(synthetic_dataset(), settings, {"case": "synthetic"})


def test_training_lowers_the_loss(trained):
    losses = [h["validation_loss"] for h in trained.history]
    assert min(losses) < 0.05 * losses[0]
    assert trained.metrics["cd_error_median"] < 0.05
    assert trained.metrics["gradient_cosine_median"] > 0.9


def test_supervised_training_lowers_the_loss():
    settings = TrainSettings(method="supervised", epochs=200, batch=32, width=32, depth=2)
    history = train(synthetic_dataset(), settings, {}).history
    assert min(h["validation_loss"] for h in history) < 0.1 * history[0]["validation_loss"]


def test_split_is_fixed_by_the_seed():
    a, b = split_indices(100, 3), split_indices(100, 3)
    assert np.array_equal(a.test, b.test) and len(a.train) == 80 and len(a.validation) == 10
    assert not np.array_equal(split_indices(100, 4).test, a.test)


def test_artifact_round_trip_is_bit_for_bit(trained, tmp_path):
    path = tmp_path / "s.pt"
    trained.surrogate.save(path)
    loaded = load(path)
    for key, value in trained.surrogate.net.state_dict().items():
        assert torch.equal(value.cpu(), loaded.net.state_dict()[key])
    assert np.array_equal(loaded.pod.basis, trained.surrogate.pod.basis)
    assert loaded.meta == trained.surrogate.meta
    s = synthetic_dataset(10, seed=5)
    assert np.array_equal(loaded.drag(s.s, s.re), trained.surrogate.drag(s.s, s.re))
    assert np.array_equal(loaded.state(s.s, s.re), trained.surrogate.state(s.s, s.re))
    cd, grad = loaded.drag_gradient(s.s, s.re)
    assert grad.shape == (10, M) and np.array_equal(cd, loaded.drag(s.s, s.re))
    loaded.save(tmp_path / "again.pt")
    again = load(tmp_path / "again.pt")
    assert np.array_equal(again.drag(s.s, s.re), loaded.drag(s.s, s.re))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_artifact_loads_onto_the_gpu_and_predicts_as_on_the_cpu(trained, tmp_path):
    path = tmp_path / "s.pt"
    trained.surrogate.save(path)
    s = synthetic_dataset(10, seed=5)
    cpu, gpu = load(path), load(path, device="cuda")
    assert next(gpu.net.parameters()).is_cuda
    cd_cpu, grad_cpu = cpu.drag_gradient(s.s, s.re)
    cd_gpu, grad_gpu = gpu.drag_gradient(s.s, s.re)
    assert np.allclose(cd_gpu, cd_cpu, rtol=1e-9, atol=0)  # float64 on both
    assert np.allclose(grad_gpu, grad_cpu, rtol=1e-8, atol=1e-12)
    assert np.allclose(gpu.state(s.s, s.re), cpu.state(s.s, s.re), rtol=1e-9, atol=1e-12)


def test_gradient_matches_finite_differences_of_the_surrogate(trained):
    s, re = synthetic_dataset(3, seed=9).s, np.array([2.0, 10.0, 30.0])
    _, grad = trained.surrogate.drag_gradient(s, re)
    h = 1e-6
    for i in range(M):
        e = np.zeros(M)
        e[i] = h
        fd = (trained.surrogate.drag(s + e, re) - trained.surrogate.drag(s - e, re)) / (2 * h)
        assert np.allclose(fd, grad[:, i], rtol=1e-6, atol=1e-8)


def test_incompatible_case_is_refused(trained):
    surrogate = trained.surrogate
    surrogate.check_compatible(SPEC, "abc123", (1.0, 40.0))
    with pytest.raises(IncompatibleSurrogateError, match="reference mesh abc123 ≠ 999"):
        surrogate.check_compatible(SPEC, "999", None)
    with pytest.raises(IncompatibleSurrogateError, match="parametrisation modes 1 ≠ 4"):
        surrogate.check_compatible(dataclasses.replace(SPEC, modes=4), "abc123")
    surrogate.check_compatible(
        dataclasses.replace(SPEC, bounds=[[-0.2, 0.2]] * M), "abc123"
    )  # inside the trained box
    with pytest.raises(IncompatibleSurrogateError, match="outside the trained box"):
        surrogate.check_compatible(dataclasses.replace(SPEC, bounds=[[-0.5, 0.5]] * M), "abc123")
    with pytest.raises(IncompatibleSurrogateError, match="Re range"):
        surrogate.check_compatible(SPEC, "abc123", (1.0, 100.0))


def test_query_outside_the_training_box_is_flagged(trained):
    surrogate = trained.surrogate
    s = np.zeros((3, M))
    s[1, 0] = 0.5
    mask = surrogate.outside(s, np.array([10.0, 10.0, 80.0]))
    assert mask.tolist() == [False, True, True]
    with pytest.warns(OutsideTrainingBox, match="2 of 3 queries lie outside"):
        surrogate.drag(s, np.array([10.0, 10.0, 80.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        surrogate.drag(np.zeros((2, M)), 5.0)


def test_a_file_that_is_not_a_surrogate_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"not a surrogate")
    with pytest.raises(IncompatibleSurrogateError, match="not a surrogate file"):
        load(path)


def test_surrogates_never_import_fenics():
    code = (
        "import sys, surrogates, surrogates.train, surrogates.datafile, surrogates.pod; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('dolfinx', 'dolfinx_solver', 'petsc4py', 'ufl', 'basix', 'ffcx', 'shapeopt')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
