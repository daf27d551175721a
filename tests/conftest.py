"""Shared helpers: paths to the shipped cases, and writing small case files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"


@pytest.fixture
def write_case(tmp_path):
    """Write TOML text to a case file in a temporary folder and return its path."""

    def write(text: str, name: str = "case.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def shapeopt_command(*args: str) -> list[str]:
    """Command line that runs the CLI with this interpreter."""
    return [sys.executable, "-m", "shapeopt", *args]
