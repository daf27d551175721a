"""FEM-verified optimizer samples: appended to a surrogate's dataset, then the surrogate is fine-tuned.

`optimize --method surrogate --refit` uses this: every FEM solve of the trust region is a sample with
adjoint gradients like the dataset's own, stored under indices from `VERIFIED_INDEX` on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from shapeopt.data.training import save_surrogate
from shapeopt.errors import CaseError, InterruptedWorkError
from surrogates import Surrogate
from surrogates.datafile import DatasetError, SampleFile, check_appendable, read_dataset
from surrogates.settings import TrainSettings
from surrogates.train import train

VERIFIED_INDEX = 1_000_000  # dataset indices of FEM-verified optimizer samples start here
REFIT_SECONDS = 120.0  # the default budget of a fine-tune (`refit_surrogate`)


# Settings a verified sample may differ in from the dataset's own: how the dataset drew its designs (seed,
# design version), and the Re range and box of the optimized case (a surrogate serves cases inside its
# training box).
MAY_DIFFER = ("seed", "design", "re_range", "spec")


def check_verified_target(data_path: Path, identity: dict) -> None:
    """Refuse, before the optimization, a dataset that `append_verified` could not extend."""
    try:
        check_appendable(data_path, identity, MAY_DIFFER)
    except DatasetError as exc:
        raise CaseError(f"--refit: {exc}") from None


def append_verified(data_path: Path, rows: list[dict], identity: dict, key: str | None = None) -> int:
    """Append FEM-verified samples (rows as `compute_sample` makes them) to a dataset whose samples were
    made under the same settings (`identity`, `MAY_DIFFER` aside); returns the count appended. With `key`
    (an atlas problem's name) the rows take indices of their own block (`verified_block`) and are appended
    once: a dataset that holds a row of that block already (a rerun after kill -9 between the append and
    the problem's folder) gets none."""
    writer = SampleFile.open_existing(data_path, identity, ignore=MAY_DIFFER)
    try:
        done = writer.done()
        if key is None:
            first = VERIFIED_INDEX + sum(VERIFIED_INDEX <= i < KEYED_INDEX for i in done)
        else:
            first = verified_block(key)
            if any(first <= i < first + BLOCK for i in done):
                return 0
            if len(rows) > BLOCK:
                raise ValueError(f"{len(rows)} verified samples keyed {key!r}: a block holds {BLOCK}")
        for k, row in enumerate(rows):
            writer.append(row | {"index": first + k})
    finally:
        writer.close()
    return len(rows)


# Keyed verified samples (an atlas problem's) take a block of `BLOCK` indices from `KEYED_INDEX` on, chosen
# by the key's hash: far above the sequential ones of `optimize --refit`, within int64.
KEYED_INDEX = 1 << 40
BLOCK = 1 << 12


def verified_block(key: str) -> int:
    """The first dataset index of the block of verified samples keyed `key` (`append_verified`)."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:5], "big")  # 40 bits
    return KEYED_INDEX + digest * BLOCK


def refit_surrogate(
    model: Surrogate,
    model_path: Path,
    data_path: Path,
    epochs: int = 500,
    budget_seconds: float = REFIT_SECONDS,
) -> dict:
    """Fine-tune `model` (the surrogate in hand, as stored at `model_path`) on its (grown) dataset from its
    current weights, `model` itself unchanged; the tuned surrogate replaces the file. Returns its test
    metrics. Ctrl-C or SIGTERM during the fine-tune (which the training loop catches to keep its best
    network) ends it: the best network so far replaces the file and `InterruptedWorkError` is raised."""
    data = read_dataset(data_path)
    settings = TrainSettings(
        **(
            model.meta.get("settings", {})
            | {"epochs": epochs, "budget_seconds": budget_seconds, "lr": 2e-4, "device": "cpu"}
        )
    )
    result = train(data, settings, model.meta | {"dataset_rows": len(data)}, initial=model)
    save_surrogate(result.surrogate, model_path)
    if result.metrics["interrupted"]:
        raise InterruptedWorkError(
            f"interrupted in the surrogate's refit after {result.metrics['epochs']} epochs; the best "
            f"network so far is saved in {model_path}"
        )
    return result.metrics
