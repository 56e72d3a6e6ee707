"""Small I/O helpers: atomic writes, so a crash never leaves a half-written result file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgecloud_agents._io import atomic_write_bytes

__all__ = ["atomic_write_json", "atomic_write_text", "check_writable", "save_png"]


def check_writable(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking that its folder exists or can be created."""
    path = Path(path)
    folder = path.parent if path.suffix else path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create output folder {folder}: {exc.strerror}.") from exc
    if not os.access(folder, os.W_OK):
        raise ValueError(f"output folder {folder} is not writable; choose another path.")
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    atomic_write_bytes(check_writable(path), text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_png(fig: Any, path: str | Path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG through a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
