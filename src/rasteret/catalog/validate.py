"""Field checks for dataset descriptors: each returns the normalised value or raises.

Every check raises :class:`~rasteret.errors.DescriptorError` whose message names the field, shows
the bad value and says what is expected, so a hand-edited JSON file can be fixed from the message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from numbers import Real
from typing import Any

from rasteret.errors import DescriptorError

_ID_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_ID_RE = re.compile(rf"^{_ID_PART}/{_ID_PART}$")
PRESENT = "present"


def fail(field: str, problem: str) -> DescriptorError:
    """The error for one bad field (returned so callers write ``raise fail(...)``)."""
    return DescriptorError(f"{field}: {problem}")


def dataset_id(value: Any, field: str = "id") -> str:
    """A namespaced id ``namespace/name`` made of letters, digits, '.', '_' and '-'."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise fail(
            field,
            f"got {value!r}; expected 'namespace/name' with exactly one '/', each part starting "
            "with a letter or digit and using only letters, digits, '.', '_' and '-' "
            "(e.g. 'my-org/my-dataset' or 'local/field-survey')",
        )
    return value


def text(value: Any, field: str) -> str:
    """A free-text field; None becomes the empty string."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fail(field, f"must be a string, got {type(value).__name__} {value!r}")
    return value


def optional_text(value: Any, field: str) -> str | None:
    """An optional non-empty string; None and "" both mean absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise fail(field, f"must be a string or null, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise fail(field, f"must not be blank, got {value!r}")
    return value


def optional_http_url(value: Any, field: str) -> str | None:
    """An optional http(s) URL."""
    url = optional_text(value, field)
    if url is not None and not url.startswith(("http://", "https://")):
        raise fail(field, f"must be an http:// or https:// URL, got {url!r}")
    return url


def flag(value: Any, field: str) -> bool:
    """A true/false field (JSON booleans only: 'yes', 1 or 'true' are refused)."""
    if not isinstance(value, bool):
        raise fail(field, f"must be true or false, got {type(value).__name__} {value!r}")
    return value


def _mapping(value: Any, field: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise fail(field, f"must be a mapping (JSON object), got {type(value).__name__}")
    if not value:
        raise fail(field, "must not be empty; leave it out (null) instead")
    return value


def _name(key: Any) -> bool:
    return isinstance(key, str) and bool(key.strip())


def string_map(value: Any, field: str, *, what: str = "names") -> dict[str, str] | None:
    """An optional ``{non-empty string: non-empty string}`` mapping."""
    if value is None:
        return None
    bad = [(k, v) for k, v in _mapping(value, field).items() if not (_name(k) and _name(v))]
    if bad:
        raise fail(
            field,
            f"keys and values must be non-empty strings ({what}); bad entries: "
            + ", ".join(f"{k!r}: {v!r}" for k, v in bad[:5]),
        )
    return dict(value)


def index_map(value: Any, field: str) -> dict[str, int] | None:
    """An optional ``{band code: 0-based sample index}`` mapping."""
    if value is None:
        return None
    bad = [
        (k, v)
        for k, v in _mapping(value, field).items()
        if not _name(k) or isinstance(v, bool) or not isinstance(v, int) or v < 0
    ]
    if bad:
        raise fail(
            field,
            "keys must be non-empty band codes and values non-negative integers "
            "(0-based sample index); bad entries: "
            + ", ".join(f"{k!r}: {v!r}" for k, v in bad[:5]),
        )
    return {k: int(v) for k, v in value.items()}


def list_map(value: Any, field: str, allowed_keys: Sequence[str]) -> dict[str, list[str]] | None:
    """An optional ``{surface: [names]}`` mapping with keys from ``allowed_keys``; de-duplicated."""
    if value is None:
        return None
    mapping = _mapping(value, field)
    unknown = sorted(str(k) for k in mapping if k not in allowed_keys)
    if unknown:
        raise fail(field, f"unknown key(s) {unknown}; allowed keys: {list(allowed_keys)}")
    result: dict[str, list[str]] = {}
    for key, names in mapping.items():
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise fail(f"{field}[{key!r}]", f"must be a list of names, got {names!r}")
        bad = [n for n in names if not _name(n)]
        if bad:
            raise fail(f"{field}[{key!r}]", f"names must be non-empty strings, got {bad!r}")
        result[key] = list(dict.fromkeys(names))
    return result


def _pair(value: Any, field: str, size: int, what: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != size:
        raise fail(field, f"must be a list of {size} values ({what}), got {value!r}")
    return value


def bbox(value: Any, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """An optional lon/lat box ``(minx, miny, maxx, maxy)`` in degrees, ordered and in range."""
    if value is None:
        return None
    items = _pair(value, field, 4, "minx, miny, maxx, maxy in degrees")
    if any(isinstance(v, bool) or not isinstance(v, Real) for v in items):
        raise fail(field, f"values must be numbers, got {list(items)!r}")
    minx, miny, maxx, maxy = (float(v) for v in items)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise fail(field, f"values must be finite numbers, got {list(items)!r}")
    if not (-180.0 <= minx <= 180.0 and -180.0 <= maxx <= 180.0):
        raise fail(field, f"longitudes must lie in [-180, 180], got minx={minx}, maxx={maxx}")
    if not (-90.0 <= miny <= 90.0 and -90.0 <= maxy <= 90.0):
        raise fail(field, f"latitudes must lie in [-90, 90], got miny={miny}, maxy={maxy}")
    if minx >= maxx or miny >= maxy:
        raise fail(
            field,
            f"must be ordered (minx < maxx and miny < maxy), got {list(items)!r}; "
            "a box crossing the antimeridian must be split in two",
        )
    return (minx, miny, maxx, maxy)


def _instant(value: Any, field: str, *, end: bool) -> tuple[str, datetime | None]:
    """Parse one ISO 8601 date/datetime; a date-only end covers the whole day."""
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, date):
        value = value.isoformat()
    if not isinstance(value, str):
        raise fail(field, f"dates must be ISO 8601 strings, got {type(value).__name__} {value!r}")
    if end and value.strip().lower() == PRESENT:
        return PRESENT, None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        hint = " (or 'present' for an open end)" if end else ""
        raise fail(field, f"{value!r} is not an ISO 8601 date such as '2024-01-31'{hint}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end and "T" not in value.upper() and " " not in value.strip():
        parsed = datetime.combine(parsed.date(), time.max, tzinfo=parsed.tzinfo)
    return value, parsed


def date_range(value: Any, field: str) -> tuple[str, str] | None:
    """An optional ``(start, end)`` of ISO 8601 dates; end may be 'present'; start <= end."""
    if value is None:
        return None
    start_raw, end_raw = _pair(value, field, 2, "start and end ISO 8601 dates")
    start, start_at = _instant(start_raw, field, end=False)
    end, end_at = _instant(end_raw, field, end=True)
    if start_at is not None and end_at is not None and start_at > end_at:
        raise fail(field, f"start {start!r} is after end {end!r}")
    return (start, end)
