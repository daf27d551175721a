"""Learning side of shapeopt: POD, the drag-predicting network, training and the surrogate artifact.

Pure torch/numpy (h5py for datasets); never imports FEniCS, so it trains on machines without it. The
dataset format (`surrogates.datafile`) and the parameter spec (`surrogates.spec`) import without torch;
`load`, `Surrogate` and `IncompatibleSurrogateError` import torch on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IncompatibleSurrogateError", "Surrogate", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from surrogates import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module 'surrogates' has no attribute {name!r}")
