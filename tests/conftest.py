"""Shared fixtures (helpers that are not fixtures live in `tests/helpers.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write_case(tmp_path):
    """Write TOML text to a case file in a temporary folder and return its path."""

    def write(text: str, name: str = "case.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
