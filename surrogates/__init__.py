"""Learning side of shapeopt: POD, the drag-predicting network, training and the surrogate artifact.

Pure torch/numpy (h5py for datasets); never imports FEniCS, so it trains on machines without it.
"""

from surrogates.artifact import IncompatibleSurrogateError, Surrogate, load

__all__ = ["IncompatibleSurrogateError", "Surrogate", "load"]
