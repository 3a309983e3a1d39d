"""Column normalisation shared by every build path: datetimes, footprints, bboxes, partitions.

Whatever the source (STAC items, a Parquet index, a GeoDataFrame), rows end with a UTC
``datetime``, a WKB ``geometry`` footprint in OGC:CRS84, a ``bbox`` struct covering it, and
``year``/``month`` partition columns.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import CRS, Transformer

from rasteret.errors import BuildError
from rasteret.ingest.schema import BBOX_TYPE
from rasteret.tiff.model import TiffHeader

TIMESTAMP = pa.timestamp("us", tz="UTC")
_CRS84_NAMES = {"OGC:CRS84", "EPSG:4326", "CRS84", "WGS84"}


# --- datetimes --------------------------------------------------------------------------------


def parse_datetime(value: Any, *, end_of_day: bool = False) -> dt.datetime | None:
    """A UTC datetime from an ISO string, date or datetime (naive means UTC).

    end_of_day: for a date without a time, return the last microsecond of that day.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        out = value
    elif isinstance(value, dt.date):
        out = dt.datetime(value.year, value.month, value.day)
        if end_of_day:
            out += dt.timedelta(days=1, microseconds=-1)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            out = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BuildError(
                f"cannot parse date {value!r}: use ISO 8601 like '2024-06-01' or "
                "'2024-06-01T10:30:00Z'"
            ) from None
        if end_of_day and len(text) <= 10:
            out += dt.timedelta(days=1, microseconds=-1)
    elif hasattr(value, "to_pydatetime"):
        out = value.to_pydatetime()
    else:
        raise BuildError(f"cannot interpret {value!r} as a date")
    if out.tzinfo is None:
        return out.replace(tzinfo=dt.UTC)
    return out.astimezone(dt.UTC)


def to_timestamps(arr: pa.Array | pa.ChunkedArray, column: str = "datetime") -> pa.Array:
    """Any date-like column as timestamp[us, UTC]; integer columns are years (Jan 1st)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            arr = pc.assume_timezone(arr.cast(pa.timestamp("us")), "UTC")
        return arr.cast(TIMESTAMP)
    if pa.types.is_date(t):
        return arr.cast(pa.timestamp("us")).cast(TIMESTAMP)
    if pa.types.is_integer(t):
        years = arr.to_pylist()
        return pa.array(
            [dt.datetime(int(y), 1, 1, tzinfo=dt.UTC) if y is not None else None for y in years],
            TIMESTAMP,
        )
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pa.array([parse_datetime(v) for v in arr.to_pylist()], TIMESTAMP)
    raise BuildError(
        f"column {column!r} has type {t}, which is not a date: map a timestamp, date, ISO string "
        "or integer year column to 'datetime'"
    )


def year_month(timestamps: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Partition values (int32) of a timestamp column; null dates give null partitions."""
    return pc.year(timestamps).cast(pa.int32()), pc.month(timestamps).cast(pa.int32())


# --- geometries -------------------------------------------------------------------------------


def is_crs84(crs: Any) -> bool:
    """True when ``crs`` is lon/lat WGS84 (what footprints are stored in)."""
    if crs is None:
        return True
    if isinstance(crs, str) and crs.upper() in _CRS84_NAMES:
        return True
    parsed = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
    return parsed.equals(CRS.from_epsg(4326), ignore_axis_order=True)


def geoarrow_crs(field: pa.Field) -> Any:
    """The CRS declared in a GeoArrow field's extension metadata (e.g. from GeoPandas), if any."""
    raw = (field.metadata or {}).get(b"ARROW:extension:metadata")
    if not raw:
        return None
    try:
        return json.loads(raw).get("crs")
    except (ValueError, AttributeError):
        return None


def to_wkb(values: pa.Array | pa.ChunkedArray | Sequence[Any], crs: Any = None) -> pa.Array:
    """WKB footprints in CRS84 from WKB, WKT, GeoJSON or shapely values in ``crs``."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.ExtensionArray):
        values = values.storage
    if isinstance(values, pa.Array):
        if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
            geoms = shapely.from_wkb(np.asarray(values.to_pylist(), dtype=object))
        elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            geoms = np.array([_from_text(v) for v in values.to_pylist()], dtype=object)
        elif pa.types.is_struct(values.type) or pa.types.is_list(values.type):
            geoms = np.array([_from_mapping(v) for v in values.to_pylist()], dtype=object)
        else:
            raise BuildError(
                f"geometry column has type {values.type}: expected WKB, WKT or GeoJSON"
            )
    else:
        geoms = np.array([_from_any(v) for v in values], dtype=object)
    if crs is not None and not is_crs84(crs):
        transformer = Transformer.from_crs(
            CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True
        )
        geoms = shapely.transform(
            shapely.segmentize(geoms, _densify_step(geoms)),
            lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])),
        )
    return pa.array(shapely.to_wkb(geoms, include_srid=False), pa.binary())


def _densify_step(geoms: np.ndarray) -> float:
    bounds = shapely.bounds(geoms)
    spans = np.nanmax(np.c_[bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]], axis=1)
    finite = spans[np.isfinite(spans) & (spans > 0)]
    return float(finite.max() / 16) if finite.size else 1.0


def _from_text(value: str | None) -> Any:
    if value is None:
        return None
    text = value.strip()
    if text.startswith("{"):
        return shapely.geometry.shape(json.loads(text))
    return shapely.from_wkt(text)


def _from_mapping(value: Any) -> Any:
    if value is None:
        return None
    return shapely.geometry.shape(value)


def _from_any(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return shapely.from_wkb(bytes(value))
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, Mapping):
        return shapely.geometry.shape(value)
    if isinstance(value, shapely.Geometry):
        return value
    if hasattr(value, "__geo_interface__"):
        return shapely.geometry.shape(value.__geo_interface__)
    raise BuildError(f"cannot interpret {type(value).__name__} as a geometry")


def bbox_from_wkb(wkb: pa.Array) -> pa.StructArray:
    """The bbox struct of each WKB footprint (null where the footprint is null)."""
    geoms = shapely.from_wkb(np.asarray(wkb.to_pylist(), dtype=object))
    b = shapely.bounds(geoms)
    mask = pa.array(shapely.is_missing(geoms) | np.isnan(b[:, 0]))
    return pa.StructArray.from_arrays(
        [pa.array(b[:, i], pa.float64()) for i in range(4)],
        fields=list(BBOX_TYPE),
        mask=mask,
    )


def bbox_from_values(boxes: Sequence[Sequence[float] | None]) -> pa.StructArray:
    """The bbox struct from (xmin, ymin, xmax, ymax) tuples (3-D boxes use their 2-D part)."""
    rows = []
    for b in boxes:
        if b is None or len(b) < 4:
            rows.append(None)
            continue
        if len(b) == 6:
            b = (b[0], b[1], b[3], b[4])
        rows.append(dict(zip(("xmin", "ymin", "xmax", "ymax"), map(float, b[:4]), strict=True)))
    return pa.array(rows, BBOX_TYPE)


def footprint_wkb(header: TiffHeader) -> bytes | None:
    """The raster extent of a parsed file as a densified CRS84 polygon (None without a CRS)."""
    if header.crs is None:
        return None
    t = header.transform
    w, h = header.width, header.height
    ring = shapely.segmentize(shapely.box(0, 0, w, h), max(w, h) / 16)
    cols, rows = shapely.get_coordinates(ring).T
    xs = t.a * cols + t.b * rows + t.c
    ys = t.d * cols + t.e * rows + t.f
    if not is_crs84(header.crs):
        transformer = _to_lonlat(header.crs.to_wkt())
        xs, ys = transformer.transform(xs, ys)
    polygon = shapely.Polygon(np.column_stack([xs, ys]))
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    if not all(map(math.isfinite, polygon.bounds)):
        return None
    return shapely.to_wkb(polygon)


_TRANSFORMERS: dict[str, Transformer] = {}


def _to_lonlat(wkt: str) -> Transformer:
    tr = _TRANSFORMERS.get(wkt)
    if tr is None:
        tr = Transformer.from_crs(CRS.from_wkt(wkt), CRS.from_epsg(4326), always_xy=True)
        _TRANSFORMERS[wkt] = tr
    return tr


def geometry_types(wkb: pa.Array) -> list[str]:
    """GeoParquet ``geometry_types`` of a WKB column."""
    geoms = shapely.from_wkb(np.asarray(wkb.drop_null().to_pylist(), dtype=object))
    return sorted({g.geom_type for g in geoms if g is not None})


# --- properties -------------------------------------------------------------------------------


def column_from_values(values: list[Any]) -> pa.Array:
    """An Arrow column from Python values; mixed or nested-irregular values become JSON text."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array(
            [None if v is None else json.dumps(v, default=str, sort_keys=True) for v in values],
            pa.string(),
        )
    if pa.types.is_null(arr.type):
        return arr.cast(pa.string())
    return arr
