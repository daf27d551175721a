"""Result files: JSON written whole (a reader never sees half a file), from one MPI rank."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(data: dict[str, Any], path: Path, rank: int = 0) -> None:
    """Write `data` as indented JSON from rank 0 only, through a temporary file and an atomic rename."""
    if rank != 0:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
