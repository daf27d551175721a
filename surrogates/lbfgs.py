"""Full-batch L-BFGS with a strong Wolfe line search: the second stage of the small regressions here."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


def minimise_lbfgs(
    parameters: Iterable[torch.nn.Parameter], loss: Callable[[], torch.Tensor], iterations: int
) -> None:
    """At most `iterations` L-BFGS iterations (history 50, strong Wolfe) on `loss()` (a scalar tensor of
    `parameters`), from their current values, in place."""
    optimiser = torch.optim.LBFGS(
        parameters,
        max_iter=iterations,
        history_size=50,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = loss()
        value.backward()
        return value

    optimiser.step(closure)
