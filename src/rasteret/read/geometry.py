"""Normalise the many ways users give areas and points into one value with a CRS.

Accepted: a bbox tuple, shapely geometries, WKB/WKT, GeoJSON dicts (geometry, Feature,
FeatureCollection), GeoDataFrame/GeoSeries, and Arrow / DuckDB / Polars tables (any object that
exports an Arrow stream) with ``geometry_column=``, or lists of those single values. Bare
geometries default to EPSG:4326; a table must carry a CRS (GeoArrow / GeoParquet metadata) or the
caller must pass ``geometry_crs=``. Non-geometry columns of tables and feature properties are kept
so outputs can carry them (e.g. ``plot_id``).
"""

from __future__ import annotations

import json
import math
import numbers
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from pyproj import CRS, Transformer

from rasteret.errors import GeometryError, UnsupportedGeometryError

DEFAULT_CRS = CRS.from_epsg(4326)
_GEOMETRY_NAMES = ("geometry", "geom", "wkb_geometry", "the_geom", "shape")
_XY_NAMES = (("x", "y"), ("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"))
_POINT_TYPES = {"Point", "MultiPoint"}


@dataclass(frozen=True)
class GeometryInput:
    """Areas of interest in one CRS.

    geometries: shapely geometries, one per input row.
    crs: their coordinate reference system.
    attributes: the input's other columns (one row per geometry), or None.
    ids: geometry ids 1..N (the ``geometry_id`` of every output).
    """

    geometries: tuple[shapely.Geometry, ...]
    crs: CRS
    attributes: pa.Table | None = None

    @property
    def ids(self) -> np.ndarray:
        return np.arange(1, len(self.geometries) + 1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.geometries)


@dataclass(frozen=True)
class PointInput:
    """Points in one CRS: coordinate arrays plus the input's other columns."""

    x: np.ndarray
    y: np.ndarray
    crs: CRS
    attributes: pa.Table | None = None

    def __len__(self) -> int:
        return len(self.x)


def parse_crs(value: Any, what: str = "geometry_crs") -> CRS:
    """A pyproj CRS from an EPSG int, a string, a dict (PROJJSON) or a CRS object."""
    if isinstance(value, CRS):
        return value
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, numbers.Integral):
            return CRS.from_epsg(int(value))
        if hasattr(value, "to_wkt"):
            return CRS.from_user_input(value.to_wkt())
        return CRS.from_user_input(value)
    except Exception as exc:  # noqa: BLE001 - re-raised as our error
        raise GeometryError(
            f"{what}={value!r} is not a CRS: pass an EPSG code (4326), 'EPSG:32633', WKT or PROJJSON"
            f" ({type(exc).__name__})"
        ) from None


def normalize_geometries(
    value: Any,
    *,
    geometry_crs: Any = "auto",
    geometry_column: str | None = None,
) -> GeometryInput:
    """Areas of interest for AOI reads; points are refused (use sample_points)."""
    geoms, crs, attrs = _extract(value, geometry_crs, geometry_column)
    for i, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom):
            raise GeometryError(f"geometry {i + 1} is empty or null; every AOI needs an area")
        kind = geom.geom_type
        if kind in _POINT_TYPES:
            raise UnsupportedGeometryError(
                f"geometry {i + 1} is a {kind}: AOI reads need polygons (or lines); "
                "use sample_points() for point values"
            )
        if kind == "GeometryCollection" and all(g.geom_type in _POINT_TYPES for g in geom.geoms):
            raise UnsupportedGeometryError(
                f"geometry {i + 1} contains only points; use sample_points() for point values"
            )
        if not np.isfinite(shapely.bounds(geom)).all():
            raise GeometryError(f"geometry {i + 1} has non-finite coordinates")
    return GeometryInput(tuple(geoms), crs, attrs)


def normalize_points(
    value: Any,
    *,
    geometry_crs: Any = "auto",
    geometry_column: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
) -> PointInput:
    """Points for sample_points: from geometries, (x, y) pairs, or x/y columns of a table."""
    table = _as_arrow_table(value)
    if table is not None and geometry_column is None:
        xy = _xy_columns(table, x_column, y_column)
        if xy is not None:
            crs = _explicit_crs(geometry_crs)
            if crs is None:
                raise GeometryError(
                    f"the point table's columns {xy[0]!r}/{xy[1]!r} carry no CRS: pass "
                    "geometry_crs= (e.g. geometry_crs=4326)"
                )
            xs = _float_column(table, xy[0])
            ys = _float_column(table, xy[1])
            return _checked_points(xs, ys, crs, table.drop_columns(list(xy)))
    elif x_column or y_column:
        raise GeometryError("x_column/y_column need a table input (Arrow, DuckDB, Polars, pandas)")
    if _is_xy_pair(value):
        value = [tuple(value)]
    if isinstance(value, Sequence) and value and all(_is_xy_pair(v) for v in value):
        crs = _explicit_crs(geometry_crs) or DEFAULT_CRS
        arr = np.asarray(value, dtype=np.float64)
        return _checked_points(arr[:, 0], arr[:, 1], crs, None)
    geoms, crs, attrs = _extract(value, geometry_crs, geometry_column)
    xs = np.empty(len(geoms))
    ys = np.empty(len(geoms))
    for i, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom):
            raise GeometryError(f"point {i} is empty or null")
        if geom.geom_type != "Point":
            raise UnsupportedGeometryError(
                f"geometry {i} is a {geom.geom_type}: sample_points needs points; "
                "use get_numpy/get_xarray/get_gdf for areas"
            )
        xs[i], ys[i] = geom.x, geom.y
    return _checked_points(xs, ys, crs, attrs)


def to_crs(geom: shapely.Geometry, src: CRS, dst: CRS) -> shapely.Geometry:
    """Reproject a geometry, densifying its edges first so curved edges stay faithful."""
    if src == dst:
        return geom
    transformer = _transformer(src, dst)
    minx, miny, maxx, maxy = shapely.bounds(geom)
    span = max(maxx - minx, maxy - miny)
    if span > 0 and geom.geom_type not in _POINT_TYPES:
        geom = shapely.segmentize(geom, span / 64.0)
    out = shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(*xy.T)))
    if not np.isfinite(shapely.bounds(out)).all():
        raise GeometryError(
            f"geometry cannot be transformed from {src.to_string()} to {dst.to_string()} "
            "(it lies outside the target CRS's area of use)"
        )
    return out


def transform_xy(xs: np.ndarray, ys: np.ndarray, src: CRS, dst: CRS) -> tuple[np.ndarray, ...]:
    """Reproject coordinate arrays (always x/y order)."""
    if src == dst:
        return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    tx, ty = _transformer(src, dst).transform(xs, ys)
    return np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)


_local = threading.local()  # pyproj transformers must not be shared between threads


def _transformer(src: CRS, dst: CRS) -> Transformer:
    cache: dict[tuple[str, str], Transformer] = getattr(_local, "transformers", None) or {}
    _local.transformers = cache
    key = (src.to_wkt(), dst.to_wkt())
    tr = cache.get(key)
    if tr is None:
        tr = Transformer.from_crs(src, dst, always_xy=True)
        cache[key] = tr
    return tr


def check_reserved(attributes: pa.Table | None, reserved: Iterable[str]) -> None:
    """Refuse input columns that would collide with output columns."""
    if attributes is None:
        return
    clash = sorted(set(attributes.column_names) & set(reserved))
    if clash:
        raise GeometryError(
            f"input column(s) {clash} collide with output columns of the same name; "
            "rename them before reading"
        )


# --- extraction -----------------------------------------------------------------------------


def _explicit_crs(geometry_crs: Any) -> CRS | None:
    if geometry_crs is None or (isinstance(geometry_crs, str) and geometry_crs == "auto"):
        return None
    return parse_crs(geometry_crs)


def _extract(
    value: Any, geometry_crs: Any, geometry_column: str | None
) -> tuple[list[Any], CRS, pa.Table | None]:
    explicit = _explicit_crs(geometry_crs)
    if value is None:
        raise GeometryError("no geometries given: pass a bbox, shapely geometry, GeoJSON or table")
    module = type(value).__module__
    if module.startswith("geopandas"):
        return _from_geopandas(value, explicit)
    table = _as_arrow_table(value)
    if table is not None:
        return _from_table(table, explicit, geometry_column)
    if isinstance(value, pa.Array | pa.ChunkedArray):
        field = pa.field("geometry", value.type)
        geoms = _decode_column(value, field, "geometry")
        declared = _field_crs(field, None, "geometry")
        if explicit is None and declared is None:
            return geoms, DEFAULT_CRS, None  # a bare array is like bare geometries
        return geoms, _resolve_crs(explicit, declared, "the Arrow array"), None
    if geometry_column is not None:
        raise GeometryError(
            f"geometry_column={geometry_column!r} needs a table input, got {type(value).__name__}"
        )
    if isinstance(value, Mapping):
        geoms, attrs = _from_geojson(value)
        return geoms, explicit or DEFAULT_CRS, attrs
    single = _single_geometry(value)
    if single is not None:
        return [single], explicit or DEFAULT_CRS, None
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        items = list(value)
        if not items:
            raise GeometryError("the geometry list is empty")
        geoms: list[Any] = []
        rows: list[Mapping[str, Any]] = []
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                got, attrs = _from_geojson(item)
                geoms.extend(got)
                rows.extend(attrs.to_pylist() if attrs is not None else [{}] * len(got))
                continue
            geom = _single_geometry(item)
            if geom is None:
                raise GeometryError(
                    f"item {i} of the geometry list is a {type(item).__name__}; expected a bbox "
                    "tuple, shapely geometry, WKB bytes, WKT string or GeoJSON dict"
                )
            geoms.append(geom)
            rows.append({})
        attrs = pa.Table.from_pylist(rows) if any(rows) else None
        return geoms, explicit or DEFAULT_CRS, attrs
    raise GeometryError(
        f"cannot use a {type(value).__name__} as geometries; pass a bbox tuple, shapely geometry, "
        "WKB, GeoJSON, GeoDataFrame or an Arrow/DuckDB/Polars table with geometry_column="
    )


def _single_geometry(value: Any) -> shapely.Geometry | None:
    if isinstance(value, shapely.Geometry):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return shapely.from_wkb(bytes(value))
        except Exception as exc:  # noqa: BLE001
            raise GeometryError(f"bytes given as geometry are not valid WKB: {exc}") from None
    if isinstance(value, str):
        try:
            return shapely.from_wkt(value)
        except Exception as exc:  # noqa: BLE001
            raise GeometryError(f"string given as geometry is not valid WKT: {exc}") from None
    if _is_bbox(value):
        minx, miny, maxx, maxy = (float(v) for v in value)
        if not (minx < maxx and miny < maxy):
            raise GeometryError(
                f"bbox {tuple(value)} must be (minx, miny, maxx, maxy) with minx < maxx and "
                "miny < maxy"
            )
        return shapely.box(minx, miny, maxx, maxy)
    if hasattr(value, "__geo_interface__"):
        try:
            return shapely.geometry.shape(value.__geo_interface__)
        except Exception as exc:  # noqa: BLE001
            raise GeometryError(f"unreadable __geo_interface__: {exc}") from None
    return None


def _is_bbox(value: Any) -> bool:
    return (
        isinstance(value, tuple | list | np.ndarray)
        and len(value) == 4
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )


def _is_xy_pair(value: Any) -> bool:
    return (
        isinstance(value, tuple | list | np.ndarray)
        and len(value) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )


def _from_geojson(obj: Mapping[str, Any]) -> tuple[list[Any], pa.Table | None]:
    kind = obj.get("type")
    if kind == "FeatureCollection":
        feats = obj.get("features") or []
        if not feats:
            raise GeometryError("the GeoJSON FeatureCollection has no features")
        geoms = [_geojson_geometry(f.get("geometry"), i) for i, f in enumerate(feats)]
        props = [dict(f.get("properties") or {}) for f in feats]
        return geoms, pa.Table.from_pylist(props) if any(props) else None
    if kind == "Feature":
        props = dict(obj.get("properties") or {})
        geom = _geojson_geometry(obj.get("geometry"), 0)
        return [geom], pa.Table.from_pylist([props]) if props else None
    return [_geojson_geometry(obj, 0)], None


def _geojson_geometry(obj: Any, i: int) -> shapely.Geometry:
    if not isinstance(obj, Mapping) or "type" not in obj:
        raise GeometryError(f"GeoJSON feature {i} has no geometry object")
    try:
        return shapely.geometry.shape(obj)
    except Exception as exc:  # noqa: BLE001
        raise GeometryError(f"GeoJSON geometry {i} is invalid: {exc}") from None


def _from_geopandas(value: Any, explicit: CRS | None) -> tuple[list[Any], CRS, pa.Table | None]:
    import geopandas as gpd

    if isinstance(value, gpd.GeoSeries):
        geoms = list(value.values)
        declared = parse_crs(value.crs, "GeoSeries.crs") if value.crs is not None else None
        return geoms, _resolve_crs(explicit, declared, "the GeoSeries"), None
    geo_col = value.geometry.name
    geoms = list(value.geometry.values)
    declared = parse_crs(value.crs, "GeoDataFrame.crs") if value.crs is not None else None
    others = value.drop(columns=[geo_col])
    attrs = pa.Table.from_pandas(others, preserve_index=False) if len(others.columns) else None
    return geoms, _resolve_crs(explicit, declared, "the GeoDataFrame"), attrs


def _resolve_crs(explicit: CRS | None, declared: CRS | None, what: str) -> CRS:
    if explicit is not None and declared is not None and not explicit.equals(declared):
        raise GeometryError(
            f"geometry_crs={explicit.to_string()} contradicts the CRS of {what} "
            f"({declared.to_string()}); drop geometry_crs= or reproject the input"
        )
    crs = explicit or declared
    if crs is None:
        raise GeometryError(
            f"{what} has no CRS: pass geometry_crs= (e.g. geometry_crs=4326) or attach a CRS "
            "(GeoArrow extension metadata / GeoParquet 'geo' metadata)"
        )
    return crs


# --- Arrow tables ---------------------------------------------------------------------------


def _as_arrow_table(value: Any) -> pa.Table | None:
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    module = type(value).__module__
    if module.startswith("pandas"):
        return (
            pa.Table.from_pandas(value, preserve_index=False) if hasattr(value, "columns") else None
        )
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return None
    if hasattr(value, "__arrow_c_stream__") and not isinstance(value, str | bytes):
        try:
            return pa.table(value)
        except Exception:  # noqa: BLE001 - not tabular; fall through
            pass
    for method in ("to_arrow", "fetch_arrow_table", "arrow"):
        fn = getattr(value, method, None)
        if callable(fn) and module.split(".")[0] in ("polars", "duckdb", "_duckdb"):
            got = fn()
            if isinstance(got, pa.RecordBatchReader):
                got = got.read_all()
            if isinstance(got, pa.Table):
                return got
    return None


def _from_table(
    table: pa.Table, explicit: CRS | None, geometry_column: str | None
) -> tuple[list[Any], CRS, pa.Table | None]:
    if table.num_rows == 0:
        raise GeometryError("the geometry table has no rows")
    name = geometry_column or _guess_geometry_column(table)
    if name not in table.column_names:
        raise GeometryError(
            f"geometry_column={name!r} is not a column of the table; columns: {table.column_names}"
        )
    field = table.schema.field(name)
    geoms = _decode_column(table.column(name), field, name)
    declared = _field_crs(field, table.schema.metadata, name)
    crs = _resolve_crs(explicit, declared, f"table column {name!r}")
    others = table.drop_columns([name])
    return geoms, crs, others if others.num_columns else None


def _guess_geometry_column(table: pa.Table) -> str:
    ext = [
        f.name
        for f in table.schema
        if (f.metadata or {}).get(b"ARROW:extension:name", b"").startswith(b"geoarrow.")
        or getattr(f.type, "extension_name", "").startswith("geoarrow.")
    ]
    if len(ext) == 1:
        return ext[0]
    geo = (table.schema.metadata or {}).get(b"geo")
    if geo:
        primary = json.loads(geo).get("primary_column")
        if primary in table.column_names:
            return primary
    named = [n for n in table.column_names if n.lower() in _GEOMETRY_NAMES]
    if len(named) == 1:
        return named[0]
    raise GeometryError(
        f"cannot tell which column holds the geometries among {table.column_names}: "
        "pass geometry_column="
    )


def _field_crs(field: pa.Field, schema_meta: Mapping[bytes, bytes] | None, name: str) -> CRS | None:
    ext_meta = (field.metadata or {}).get(b"ARROW:extension:metadata")
    if ext_meta is None and hasattr(field.type, "__arrow_ext_serialize__"):
        ext_meta = field.type.__arrow_ext_serialize__()
    if ext_meta:
        try:
            crs_value = json.loads(ext_meta).get("crs")
        except (ValueError, AttributeError):
            crs_value = None
        if crs_value:
            return parse_crs(crs_value, f"CRS of column {name!r}")
    if schema_meta and b"geo" in schema_meta:
        cols = json.loads(schema_meta[b"geo"]).get("columns", {})
        if name in cols:
            crs_value = cols[name].get("crs", "OGC:CRS84")
            return parse_crs(crs_value, f"CRS of column {name!r}") if crs_value else None
    return None


def _decode_column(column: pa.Array | pa.ChunkedArray, field: pa.Field, name: str) -> list[Any]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if isinstance(column, pa.ExtensionArray):
        column = column.storage
    typ = column.type
    ext = (field.metadata or {}).get(b"ARROW:extension:name", b"").decode() or getattr(
        field.type, "extension_name", ""
    )
    try:
        if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or pa.types.is_binary_view(typ):
            return list(shapely.from_wkb(column.to_numpy(zero_copy_only=False)))
        if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
            return list(shapely.from_wkt(column.to_numpy(zero_copy_only=False)))
        return _decode_native(column, ext)
    except GeometryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise GeometryError(
            f"column {name!r} ({typ}) could not be decoded as geometries: {exc}"
        ) from None


_NATIVE_TYPES = {
    "geoarrow.point": (shapely.GeometryType.POINT, 0),
    "geoarrow.linestring": (shapely.GeometryType.LINESTRING, 1),
    "geoarrow.polygon": (shapely.GeometryType.POLYGON, 2),
    "geoarrow.multipoint": (shapely.GeometryType.MULTIPOINT, 1),
    "geoarrow.multilinestring": (shapely.GeometryType.MULTILINESTRING, 2),
    "geoarrow.multipolygon": (shapely.GeometryType.MULTIPOLYGON, 3),
}


def _decode_native(column: pa.Array, ext: str) -> list[Any]:
    """GeoArrow native encodings (separated or interleaved coordinates)."""
    if ext not in _NATIVE_TYPES:
        raise GeometryError(
            f"unsupported geometry encoding {ext or column.type}; use WKB (binary), WKT or "
            "native GeoArrow"
        )
    if column.null_count:
        raise GeometryError("the geometry column contains nulls")
    kind, depth = _NATIVE_TYPES[ext]
    offsets = []
    arr = column
    for _ in range(depth):
        offsets.append(np.asarray(arr.offsets, dtype=np.int64))
        arr = arr.values
    coords = _coords(arr)
    return list(shapely.from_ragged_array(kind, coords, tuple(reversed(offsets)) or None))


def _coords(arr: pa.Array) -> np.ndarray:
    if pa.types.is_struct(arr.type):
        dims = [arr.field(i).to_numpy(zero_copy_only=False) for i in range(arr.type.num_fields)]
        return np.column_stack(dims[:2]).astype(np.float64)
    if pa.types.is_fixed_size_list(arr.type):
        size = arr.type.list_size
        flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
        return flat.reshape(-1, size)[:, :2]
    raise GeometryError(f"unsupported GeoArrow coordinate type {arr.type}")


# --- points ---------------------------------------------------------------------------------


def _xy_columns(
    table: pa.Table, x_column: str | None, y_column: str | None
) -> tuple[str, str] | None:
    if x_column or y_column:
        if not (x_column and y_column):
            raise GeometryError("pass both x_column= and y_column=")
        for col in (x_column, y_column):
            if col not in table.column_names:
                raise GeometryError(
                    f"column {col!r} is not in the point table; columns: {table.column_names}"
                )
        return x_column, y_column
    lower = {n.lower(): n for n in table.column_names}
    has_geometry = any(n.lower() in _GEOMETRY_NAMES for n in table.column_names) or any(
        (f.metadata or {}).get(b"ARROW:extension:name", b"").startswith(b"geoarrow.")
        for f in table.schema
    )
    if has_geometry:
        return None
    for xn, yn in _XY_NAMES:
        if xn in lower and yn in lower:
            return lower[xn], lower[yn]
    return None


def _float_column(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    if col.null_count:
        raise GeometryError(f"column {name!r} has null coordinates")
    try:
        return np.asarray(col.cast(pa.float64()).to_numpy(), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise GeometryError(f"column {name!r} is not numeric: {exc}") from None


def _checked_points(xs: np.ndarray, ys: np.ndarray, crs: CRS, attrs: pa.Table | None) -> PointInput:
    if len(xs) == 0:
        raise GeometryError("no points given")
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        raise GeometryError(
            f"{int(bad.sum())} point(s) have non-finite coordinates (first at index "
            f"{int(np.flatnonzero(bad)[0])})"
        )
    if attrs is not None and attrs.num_columns == 0:
        attrs = None
    return PointInput(np.asarray(xs, np.float64), np.asarray(ys, np.float64), crs, attrs)


def union_bounds(geoms: Sequence[Any]) -> tuple[float, float, float, float]:
    """Bounds of all geometries together."""
    b = shapely.bounds(np.asarray(geoms, dtype=object))
    return (
        float(np.min(b[:, 0])),
        float(np.min(b[:, 1])),
        float(np.max(b[:, 2])),
        float(np.max(b[:, 3])),
    )


def bounds_to_crs(
    bounds: tuple[float, float, float, float], src: CRS, dst: CRS
) -> tuple[float, float, float, float] | None:
    """Bounds in another CRS (densified edges), or None when they cannot be transformed."""
    if src == dst:
        return bounds
    try:
        out = _transformer(src, dst).transform_bounds(*bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - caller falls back to no pre-filter
        return None
    if not all(math.isfinite(v) for v in out):
        return None
    return tuple(float(v) for v in out)  # type: ignore[return-value]
