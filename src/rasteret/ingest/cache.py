"""The build cache: a collection in the workspace is reused only when every build input matches.

The key is a hash of the inputs that shape the collection (source, collection, bbox, dates,
query, band maps, column mapping, schema version, and for local tables their files' sizes and
modification times; for in-memory tables their content). The inputs are also stored in the
collection metadata so ``describe()`` can show how it was built.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.ingest.schema import SCHEMA_VERSION

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    """A folder-safe version of a collection name."""
    cleaned = _SAFE.sub("-", name.strip()).strip("-.")
    return cleaned or "collection"


def canonical(value: Any) -> Any:
    """JSON-ready form of an input (tuples as lists, mappings sorted, expressions as text)."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def build_key(inputs: Mapping[str, Any]) -> str:
    """Hash of the canonical inputs plus the schema version."""
    payload = json.dumps(
        {"schema": SCHEMA_VERSION, **canonical(dict(inputs))}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def source_fingerprint(source: Any) -> Any:
    """What identifies a table source's content: files' (path, size, mtime), or a content hash."""
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        if "://" in text and not text.startswith("file://"):
            return text
        path = Path(text.removeprefix("file://")).expanduser()
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        return [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.exists()]
    if isinstance(source, ds.Dataset):
        if isinstance(source, ds.FileSystemDataset):
            return sorted(source.files)
        source = source.to_table()
    if isinstance(source, pa.Table):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, source.schema) as writer:
            writer.write_table(source)
        return hashlib.sha256(sink.getvalue()).hexdigest()
    return repr(type(source))
