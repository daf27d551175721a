"""Where a surrogate finds the dataset it was trained on: beside it when the two moved together."""

from __future__ import annotations

from types import SimpleNamespace

from shapeopt.app.surrogate_route import trained_on
from shapeopt.data.training import dataset_record


def test_a_surrogate_copied_with_its_dataset_finds_the_copy_and_else_the_recorded_path(tmp_path):
    trained, copied = tmp_path / "trained", tmp_path / "copied"
    for folder in (trained, copied):
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "d.h5").write_bytes(b"")
    record = dataset_record(trained / "data" / "d.h5", trained / "data" / "s.pt")
    assert record == {"dataset": str(trained / "data" / "d.h5"), "dataset_beside": "d.h5"}
    model = SimpleNamespace(meta=record)
    assert trained_on(model, copied / "data" / "s.pt") == copied / "data" / "d.h5"
    assert trained_on(model, tmp_path / "elsewhere" / "s.pt") == trained / "data" / "d.h5"
    old = SimpleNamespace(meta={"dataset": str(trained / "data" / "d.h5")})  # written before the record
    assert trained_on(old, copied / "data" / "s.pt") == trained / "data" / "d.h5"
    assert trained_on(SimpleNamespace(meta={}), copied / "data" / "s.pt") is None
