"""Result files: JSON written whole (a reader never sees half a file) from one MPI rank, and output paths
checked before the work that fills them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shapeopt.errors import CaseError


def write_json(data: dict[str, Any], path: Path, rank: int = 0) -> None:
    """Write `data` as indented JSON from rank 0 only, through a temporary file and an atomic rename."""
    if rank != 0:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def check_output_folder(path: Path) -> None:
    """Refuse, before any work, a run directory that is a file or cannot be created or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CaseError(f"--out {path} is a file; give a folder for the run")
    _check_writable_folder(path if path.exists() else _existing_ancestor(path), path)


def check_output_file(path: Path, example: str) -> None:
    """Refuse, before any work, an output file path that is a folder or cannot be created or replaced."""
    path = Path(path)
    if path.is_dir():
        raise CaseError(f"--out {path} is a folder; give a file name such as {path / example}")
    if path.exists() and not os.access(path, os.W_OK):
        raise CaseError(f"--out {path} is not writable")
    _check_writable_folder(_existing_ancestor(path), path)


def _existing_ancestor(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def _check_writable_folder(folder: Path, wanted: Path) -> None:
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise CaseError(f"cannot write {wanted}: {folder} is not a writable folder")
