"""Learning-rate schedules of the epoch loop: a fixed budget, or training until the validation loss stops
improving (the convergence criterion of the training-method study)."""

from __future__ import annotations

import math

PLATEAU_TOLERANCE = 0.01  # a plateau: the last epochs lowered the best validation loss by less than 1%
PLATEAU_WINDOW = 0.25  # "the last epochs": this fraction of the stage's epochs …
PLATEAU_MIN_EPOCHS = 8  # … and at least this many
PLATEAU_FACTOR = 0.1  # the learning rate of the next stage
PLATEAU_STAGES = 3  # stages in all; the last plateau ends training


class PlateauSchedule:
    """Stages of constant learning rate. A stage ends on a plateau: the best validation loss of its last
    max(8, ¼ of its epochs) epochs is not 1% below the best before them. The next stage runs at a tenth of
    the rate; the third plateau means converged."""

    def __init__(self, lr: float):
        self.lr = lr
        self.stage = 0
        self.losses: list[float] = []

    def lr_at(self, epoch: int, elapsed: float) -> float:
        """The learning rate of `epoch` (that of the current stage)."""
        return self.lr

    def update(self, validation_loss: float) -> bool:
        """Record an epoch's validation loss; False once training has converged."""
        self.losses.append(validation_loss)
        n = len(self.losses)
        window = max(PLATEAU_MIN_EPOCHS, math.ceil(PLATEAU_WINDOW * n))
        if n < 2 * window:
            return True
        if min(self.losses[-window:]) < (1 - PLATEAU_TOLERANCE) * min(self.losses[:-window]):
            return True
        self.stage += 1
        self.lr *= PLATEAU_FACTOR
        self.losses = []
        return self.stage < PLATEAU_STAGES


class BudgetSchedule:
    """Exponential decay from lr to lr · decay over the run: epochs or seconds, whichever ends first."""

    def __init__(self, lr: float, decay: float, epochs: int, seconds: float):
        self.lr, self.decay, self.epochs, self.seconds = lr, decay, epochs, seconds

    def lr_at(self, epoch: int, elapsed: float) -> float:
        """The learning rate of `epoch`, `elapsed` seconds into training."""
        done = max(epoch / self.epochs, elapsed / self.seconds)
        return self.lr * self.decay ** min(done, 1.0)

    def update(self, validation_loss: float) -> bool:
        """Training goes on until the epochs or the seconds run out."""
        return True
