"""A trained surrogate as a file: weights, POD basis, parameter spec, mesh hash, Re range, metrics.

`load(path)` returns a `Surrogate` with batched `drag`, `drag_gradient` and `state` queries, after
checking the file: its metadata (spec, mesh hash, Re range) and finite weights and POD arrays; a file that
fails is refused with `IncompatibleSurrogateError` naming the fault.
"""

from __future__ import annotations

import errno
import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from surrogates.network import DragNet
from surrogates.pod import POD
from surrogates.spec import ParameterSpec

FORMAT = "shapeopt-surrogate/1"


class IncompatibleSurrogateError(ValueError):
    """The surrogate was trained for another parametrisation, mesh or Reynolds range."""


class OutsideTrainingBox(UserWarning):
    """Some queries lie outside the box of shapes and Reynolds numbers the surrogate was trained on."""


class Surrogate:
    """Drag model for one parametrisation and reference mesh. Inputs: s (n, m), re (n,) or scalar."""

    def __init__(self, net: DragNet, pod: POD, meta: dict[str, Any]):
        self.net, self.pod, self.meta = net.eval(), pod, meta
        self.device = next(net.parameters()).device
        self._basis = torch.as_tensor(pod.basis, device=self.device)
        self._mean = torch.as_tensor(pod.mean, device=self.device)
        self.spec = ParameterSpec.from_dict(meta["spec"])
        self.lower, self.upper = self.spec.lower, self.spec.upper

    # -- queries ---------------------------------------------------------------------------------
    def _inputs(self, s, re) -> tuple[torch.Tensor, torch.Tensor]:
        s = torch.as_tensor(
            np.asarray(s, dtype=float) if not torch.is_tensor(s) else s,
            dtype=torch.float64,
            device=self.device,
        )
        if s.ndim not in (1, 2) or s.shape[-1] != self.net.n_params:
            raise ValueError(
                f"s has shape {tuple(s.shape)}; this surrogate takes {self.net.n_params} parameters per shape"
            )
        s = s.reshape(-1, self.net.n_params)
        re = torch.as_tensor(re, dtype=torch.float64, device=self.device).reshape(-1)
        if re.numel() == 1:
            re = re.expand(s.shape[0])
        if self.meta.get("warn_outside", True):
            outside = self.outside(s.detach().cpu().numpy(), re.detach().cpu().numpy())
            if outside.any():
                warnings.warn(
                    f"{int(outside.sum())} of {len(outside)} queries lie outside the training box "
                    f"(shape bounds, Re in {self.meta['re_range']})",
                    OutsideTrainingBox,
                    stacklevel=3,
                )
        return s, re

    def outside(self, s: np.ndarray, re: np.ndarray) -> np.ndarray:
        """Mask (n,) of queries outside the parameter bounds or the training Re range (NaN and ±inf
        included)."""
        s = np.asarray(s, dtype=float).reshape(-1, self.net.n_params)
        re = np.broadcast_to(np.asarray(re, dtype=float).reshape(-1), (len(s),))
        lo, hi = self.meta["re_range"]
        tol = 1e-9
        return (
            ~np.all(np.isfinite(s), axis=1)
            | ~np.isfinite(re)
            | np.any(s < self.lower - tol, axis=1)
            | np.any(s > self.upper + tol, axis=1)
            | (re < lo * (1 - tol))
            | (re > hi * (1 + tol))
        )

    @torch.no_grad()
    def drag(self, s, re) -> np.ndarray:
        """Predicted C_D: (n,)."""
        _, cd, _ = self.net(*self._inputs(s, re))
        return cd.cpu().numpy()

    @torch.no_grad()
    def coefficients(self, s, re) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (C_D, C_L): each (n,)."""
        _, cd, cl = self.net(*self._inputs(s, re))
        return cd.cpu().numpy(), cl.cpu().numpy()

    def drag_gradient(self, s, re) -> tuple[np.ndarray, np.ndarray]:
        """Predicted C_D (n,) and dC_D/ds (n, m) by autograd."""
        s, re = self._inputs(s, re)
        s = s.detach().requires_grad_(True)
        _, cd, _ = self.net(s, re)
        (grad,) = torch.autograd.grad(cd.sum(), s)
        return cd.detach().cpu().numpy(), grad.cpu().numpy()

    @torch.no_grad()
    def state(self, s, re) -> np.ndarray:
        """Predicted state w̄ + Φ y on the reference DOF layout: (n, N)."""
        y, _, _ = self.net(*self._inputs(s, re))
        return (self._mean + y @ self._basis.T).cpu().numpy()

    # -- compatibility ---------------------------------------------------------------------------
    def check_compatible(
        self, spec: ParameterSpec, mesh_sha256: str, re_range: tuple[float, float] | None = None
    ) -> None:
        """Raise `IncompatibleSurrogateError` unless `spec` fits the trained one (`ParameterSpec.fits`)
        and the mesh and Re range match."""
        problems = spec.fit_problems(self.spec)
        if self.meta["mesh_sha256"] != mesh_sha256:
            problems.append(f"reference mesh {self.meta['mesh_sha256'][:12]} ≠ {mesh_sha256[:12]}")
        if re_range is not None:
            lo, hi = self.meta["re_range"]
            if re_range[0] < lo * (1 - 1e-9) or re_range[1] > hi * (1 + 1e-9):
                problems.append(f"Re range {list(re_range)} is not inside the trained {[lo, hi]}")
        if problems:
            raise IncompatibleSurrogateError("surrogate does not fit this case: " + "; ".join(problems))

    # -- file ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the artifact (torch.save of tensors and plain data, loadable with weights_only)."""
        payload = {
            "format": FORMAT,
            "architecture": {
                "n_params": self.net.n_params,
                "n_modes": self.net.n_modes,
                "width": self.net.width,
                "depth": self.net.depth,
            },
            "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "pod": {
                "mean": torch.from_numpy(self.pod.mean),
                "basis": torch.from_numpy(self.pod.basis),
                "weights": torch.from_numpy(self.pod.weights),
                "singular_values": torch.from_numpy(self.pod.singular_values),
                "energy": self.pod.energy,
            },
            "meta": self.meta,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")  # hidden, this process's
        try:
            tmp.write_bytes(buffer.getvalue())
            if path.exists() and not path.is_file():  # looked at again at the end: never replaced
                raise IsADirectoryError(errno.EISDIR, "no regular file (a folder, FIFO or device)", str(path))
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half file; an earlier `path` stays
            raise


def load(path: str | Path, device: str = "cpu") -> Surrogate:
    """Read a surrogate artifact; `device` is where queries run."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)  # the POD stays in numpy
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise IncompatibleSurrogateError(f"{path}: not a surrogate file ({exc.__class__.__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise IncompatibleSurrogateError(f"{path}: not a {FORMAT} file")
    try:
        net = DragNet(**payload["architecture"]).to(device)
        net.load_state_dict(payload["state_dict"])
        p = payload["pod"]
        pod = POD(
            p["mean"].numpy(),
            p["basis"].numpy(),
            p["weights"].numpy(),
            p["singular_values"].numpy(),
            float(p["energy"]),
        )
        problems = meta_problems(payload["meta"]) + _array_problems(net, pod)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else exc.__class__.__name__
        raise IncompatibleSurrogateError(f"{path}: damaged surrogate file ({detail})") from None
    if problems:
        raise IncompatibleSurrogateError(f"{path}: damaged surrogate file ({'; '.join(problems)})")
    return Surrogate(net, pod, payload["meta"])


def meta_problems(meta: Any) -> list[str]:
    """What makes `meta` unusable as a surrogate's metadata (empty when it is fine): the spec, mesh hash
    and Re range every query and compatibility check reads, and the optional entries' types."""
    if not isinstance(meta, dict):
        return [f"meta is {type(meta).__name__}, not a table"]
    found = []
    try:
        ParameterSpec.from_dict(meta["spec"])
    except KeyError:
        found.append("meta lacks spec")
    except (TypeError, ValueError) as exc:
        found.append(f"meta spec is not a parameter spec ({exc})")
    if not isinstance(meta.get("mesh_sha256"), str) or not meta["mesh_sha256"]:
        found.append(f"meta mesh_sha256 {meta.get('mesh_sha256', '(missing)')!r} is not a mesh hash")
    re_range = meta.get("re_range")
    numbers = isinstance(re_range, list | tuple) and len(re_range) == 2
    numbers = numbers and all(isinstance(r, int | float) and not isinstance(r, bool) for r in re_range)
    if not (numbers and all(math.isfinite(r) for r in re_range) and 0 < re_range[0] <= re_range[1]):
        found.append(f"meta re_range {re_range!r} is not [low, high] with 0 < low ≤ high < inf")
    for key, kind in (("dataset", str), ("dataset_rows", int), ("settings", dict), ("metrics", dict)):
        if key in meta and not isinstance(meta[key], kind):
            found.append(f"meta {key} is {type(meta[key]).__name__}, not {kind.__name__}")
    return found


def _array_problems(net: DragNet, pod: POD) -> list[str]:
    """Non-finite weights, normalisation or POD arrays, and POD arrays whose shapes do not fit the net."""
    found = [
        f"weight {name} is not finite"
        for name, value in net.state_dict().items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    arrays = {
        "mean": pod.mean,
        "basis": pod.basis,
        "weights": pod.weights,
        "singular values": pod.singular_values,
    }
    found += [f"POD {name} is not finite" for name, a in arrays.items() if not np.all(np.isfinite(a))]
    n = pod.mean.shape[0] if pod.mean.ndim == 1 else -1
    if pod.basis.shape != (n, net.n_modes) or pod.weights.shape != (n,):
        found.append(
            f"POD basis {pod.basis.shape} and weights {pod.weights.shape} do not fit a mean of "
            f"{pod.mean.shape} and {net.n_modes} modes"
        )
    return found
