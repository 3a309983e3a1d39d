"""Collection-level facts stored in the Parquet footer: name, source, dates, build key, report.

The plain keys (``name``, ``description``, ``data_source``, ``date_range``, ``created``,
``rasteret_collection_version``) match what the reference implementation writes; everything
else sits in one JSON value under ``rasteret``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rasteret.ingest.report import BuildReport
from rasteret.ingest.schema import SCHEMA_VERSION

VERSION_KEY = b"rasteret_collection_version"
RASTERET_KEY = b"rasteret"


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection is: its name, where it came from, its dates and how it was built.

    kind: "stac", "static", "table", "export" or "arrow".
    source: STAC API URL, catalog path or table path the rows came from.
    build_key: fingerprint of every build input (the build cache compares it).
    header_of: ``{band: band}`` for bands that share another band's file header.
    """

    name: str = ""
    description: str = ""
    data_source: str = ""
    kind: str = ""
    source: str = ""
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    created: str = ""
    schema_version: str = SCHEMA_VERSION
    build_key: str | None = None
    build_inputs: dict[str, Any] = field(default_factory=dict)
    report: BuildReport | None = None
    header_of: dict[str, str] = field(default_factory=dict)

    def with_(self, **changes: Any) -> CollectionInfo:
        return replace(self, **changes)

    def to_metadata(self) -> dict[bytes, bytes]:
        """Parquet key/value metadata."""
        extra = {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "source": self.source,
            "build_key": self.build_key,
            "build_inputs": self.build_inputs,
            "report": self.report.to_dict() if self.report else None,
            "header_of": self.header_of,
        }
        return {
            b"name": self.name.encode(),
            b"description": self.description.encode(),
            b"data_source": self.data_source.encode(),
            b"created": (self.created or now_iso()).encode(),
            b"date_range": _date_range_text(self.start_date, self.end_date).encode(),
            VERSION_KEY: self.schema_version.encode(),
            RASTERET_KEY: json.dumps(extra, default=str, sort_keys=True).encode(),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[bytes, bytes] | None) -> CollectionInfo:
        """Read back :meth:`to_metadata` (also the reference implementation's keys)."""
        meta = meta or {}

        def text(key: bytes) -> str:
            return meta.get(key, b"").decode("utf-8", "replace")

        start, end = _parse_date_range(text(b"date_range"))
        try:
            extra = json.loads(meta.get(RASTERET_KEY) or b"{}")
        except ValueError:
            extra = {}
        report = extra.get("report")
        return cls(
            name=text(b"name"),
            description=text(b"description"),
            data_source=text(b"data_source"),
            kind=extra.get("kind") or "",
            source=extra.get("source") or "",
            start_date=start,
            end_date=end,
            created=text(b"created"),
            schema_version=text(VERSION_KEY) or "1",
            build_key=extra.get("build_key"),
            build_inputs=extra.get("build_inputs") or {},
            report=BuildReport.from_dict(report) if report else None,
            header_of=dict(extra.get("header_of") or {}),
        )


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _date_range_text(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{start.isoformat()},{end.isoformat()}"


def _parse_date_range(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    if not text or "," not in text:
        return None, None
    a, b = text.split(",", 1)
    try:
        start, end = dt.datetime.fromisoformat(a.strip()), dt.datetime.fromisoformat(b.strip())
    except ValueError:
        return None, None
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    return start, end
