"""Read and write small JSON files safely: atomic replace on write, clear errors on read."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rasteret.errors import RegistryError

_NEW_FILE_MODE = 0o644


def dumps(payload: Any) -> str:
    """JSON text with a 2-space indent and a final newline; key order is kept as given."""
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def sorted_top_level(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its own keys sorted (diff-friendly) but nested mappings left in order.

    Band maps keep their order (B01..B12, B8A, SCL stay as declared).
    """
    return {key: data[key] for key in sorted(data)}


def write_atomic(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` via a temp file in the same folder and ``os.replace``.

    Readers see either the old file or the new one, never a partial write.
    """
    text = dumps(payload)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = _NEW_FILE_MODE
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise RegistryError(
            f"cannot write {path}: {exc.strerror or exc}; choose a writable location"
        ) from None


def parse(raw: bytes) -> tuple[Any, str | None]:
    """Decode JSON bytes; returns (value, None) or (None, reason it is unreadable)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"is not UTF-8 text (byte {exc.start})"
    if not text.strip():
        return None, None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
