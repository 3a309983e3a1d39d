"""Standard collection names ``{custom}_{dates}_{source}``, as the reference implementation makes
them (``Collection.create_name`` / ``Collection.parse_name``), so names users already have keep
their meaning."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rasteret.errors import BuildError, CollectionError
from rasteret.ingest.normalize import parse_datetime

# Short tokens the reference uses for its two canonical built-in sources.
_SHORT_SOURCES = {"sentinel-2-l2a": "sentinel", "landsat-c2-l2": "landsat"}
_UNSAFE = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def _token(text: str, default: str) -> str:
    """Lower case, runs of anything but ``a-z0-9-`` as one dash, no leading/trailing dash."""
    cleaned = _UNSAFE.sub("-", text.strip().lower().replace("_", "-"))
    return _DASHES.sub("-", cleaned).strip("-") or default


def create_name(custom_name: str, date_range: Sequence[Any], data_source: str) -> str:
    """``{custom}_{YYYYMM-MM}_{source}`` (``{YYYYMM-YYYYMM}`` across years).

    custom_name: any text; lower-cased, with underscores, spaces and other symbols as dashes.
    date_range: (start, end) as ISO strings, dates or datetimes.
    data_source: dataset id; ``sentinel-2-l2a`` and ``landsat-c2-l2`` become ``sentinel`` and
        ``landsat``.
    """
    if not isinstance(date_range, Sequence) or isinstance(date_range, str) or len(date_range) != 2:
        raise CollectionError(f"date_range must be (start, end), got {date_range!r}")
    try:
        start, end = (parse_datetime(d) for d in date_range)
    except BuildError as exc:
        raise CollectionError(str(exc)) from None
    if start is None or end is None:
        raise CollectionError(f"date_range needs a start and an end, got {date_range!r}")
    dates = f"{start:%Y%m}-{end:%m}" if start.year == end.year else f"{start:%Y%m}-{end:%Y%m}"
    source = (data_source or "").strip().lower()
    source = _SHORT_SOURCES.get(source) or _token(source.replace("/", "-"), "source")
    return f"{_token(custom_name, 'collection')}_{dates}_{source}"


def parse_name(name: str) -> dict[str, str | None]:
    """``{"custom_name", "data_source", "name"}`` of a name made by :func:`create_name` (a
    ``_stac`` / ``_records`` folder suffix is ignored); for any other name the name itself as
    ``custom_name`` and ``data_source`` None."""
    clean = name.removesuffix("_stac").removesuffix("_records")
    parts = clean.split("_")
    if len(parts) == 3 and parts[1].count("-") == 1:
        return {"custom_name": parts[0], "data_source": parts[2], "name": clean}
    return {"name": name, "custom_name": name, "data_source": None}
