"""The application: what `solve`, `optimize`, `run` and `atlas` do, as library functions above the
optimizers of `shapeopt.design` (run directories, the surrogate route, the pipeline, the atlas)."""
