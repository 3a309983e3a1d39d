"""Shared fixture: each test gets its own local registry file and leaves the registries as found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rasteret.catalog import BandRegistry, DatasetRegistry
from rasteret.io.config import CloudConfig


@pytest.fixture(autouse=True)
def registry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the local registry at a fresh file and restore every in-memory registry after."""
    path = tmp_path / "home" / "datasets.local.json"
    monkeypatch.setenv("RASTERET_LOCAL_DATASETS_PATH", str(path))
    tables = [DatasetRegistry._descriptors, BandRegistry._maps, CloudConfig._registry]
    saved = [dict(table) for table in tables]
    yield path
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)
