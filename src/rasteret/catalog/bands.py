"""BandRegistry: band code -> asset key maps, keyed by data source (a dataset id or collection)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import ClassVar

from rasteret.catalog import validate


class BandRegistry:
    """Process-wide band maps used to resolve band codes (``B04``) to asset keys (``red``).

    Registering a data source again replaces its map (last write wins), so a re-registered
    dataset never keeps a stale map.
    """

    _maps: ClassVar[dict[str, dict[str, str]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(cls, data_source: str, band_map: Mapping[str, str]) -> None:
        """Remember the band map of a data source (replacing any earlier one)."""
        if not isinstance(data_source, str) or not data_source:
            raise validate.fail("data_source", f"must be a non-empty string, got {data_source!r}")
        checked = validate.string_map(band_map, "band_map", what="band code: asset key")
        if checked is None:
            raise validate.fail("band_map", "must be a mapping {band code: asset key}, got None")
        with cls._lock:
            cls._maps[data_source] = checked

    @classmethod
    def unregister(cls, data_source: str) -> None:
        """Forget the band map of a data source (no error when absent)."""
        with cls._lock:
            cls._maps.pop(data_source, None)

    @classmethod
    def get(cls, data_source: str, default: dict[str, str] | None = None) -> dict[str, str] | None:
        """A copy of the band map of a data source, or ``default``."""
        found = cls._maps.get(data_source)
        return dict(found) if found is not None else default

    @classmethod
    def list_registered(cls) -> dict[str, dict[str, str]]:
        """Every registered data source and a copy of its band map."""
        with cls._lock:
            return {source: dict(mapping) for source, mapping in sorted(cls._maps.items())}
