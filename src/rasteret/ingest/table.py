"""Record tables: Parquet/GeoParquet indexes or Arrow data with one row per scene (or tile).

Columns are mapped to the collection contract with ``column_map`` (``{source: canonical}``),
file URLs come from ``href_column`` (one multi-band file per row, bands picked by
``band_index_map``) or from an ``assets`` struct, and ``bbox_columns`` names scalar bounds
columns. The result is the records table and bands of a :class:`BuildPlan`.
"""

from __future__ import annotations

import io
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import shapely

from rasteret.errors import BuildError
from rasteret.ingest import normalize
from rasteret.ingest.plan import BandSource
from rasteret.ingest.schema import ASSETS, BBOX, BBOX_TYPE, DATETIME, GEOMETRY, ID
from rasteret.io.backend import Backend
from rasteret.io.loop import run_sync
from rasteret.io.urls import redact_url

BBOX_KEYS = ("minx", "miny", "maxx", "maxy")


@dataclass
class TableMapping:
    """How a record table maps onto the collection contract."""

    column_map: Mapping[str, str] | None = None
    href_column: str | None = None
    band_index_map: Mapping[str, int] | None = None
    band_map: Mapping[str, str] | None = None
    band_codes: Sequence[str] | None = None
    bbox_columns: Mapping[str, str] | None = None
    columns: Sequence[str] | None = None
    filter_expr: Any = None
    geometry_crs: Any = None

    def source_columns(self) -> list[str]:
        """Source columns the mapping needs."""
        needed = list((self.column_map or {}).keys())
        if self.href_column:
            needed.append(self.href_column)
        needed.extend((self.bbox_columns or {}).values())
        return list(dict.fromkeys(needed))


def read_source(
    source: str | os.PathLike[str],
    *,
    backend: Backend,
    filesystem: Any = None,
) -> ds.Dataset | pa.Table:
    """Open a Parquet file or folder: local paths lazily, remote single files via the backend."""
    text = os.fspath(source)
    if filesystem is not None or "://" not in text or text.startswith("file://"):
        path = text[len("file://") :] if text.startswith("file://") else text
        if filesystem is None and not Path(path).expanduser().exists():
            raise BuildError(f"record table {path!r} does not exist")
        try:
            return ds.dataset(
                str(Path(path).expanduser()) if filesystem is None else path,
                format="parquet",
                filesystem=filesystem,
                partitioning="hive",
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise BuildError(f"cannot read record table {path!r}: {exc}") from None
    info = run_sync(backend.head(text))
    data, _ = run_sync(backend.get_prefix(text, info.size))
    try:
        return pq.read_table(io.BytesIO(bytes(data)))
    except (pa.ArrowInvalid, OSError) as exc:
        raise BuildError(f"{redact_url(text)} is not a readable Parquet file: {exc}") from None


def check_columns(names: Sequence[str], mapping: TableMapping, *, where: str) -> None:
    """Fail naming every mapped column the table lacks."""
    missing = [c for c in mapping.source_columns() if c not in names]
    if mapping.bbox_columns:
        bad = sorted(set(mapping.bbox_columns) - set(BBOX_KEYS))
        if bad:
            raise BuildError(f"bbox_columns keys must be {list(BBOX_KEYS)}, got {bad}")
    if missing:
        raise BuildError(
            f"{where} has no column(s) {missing} named by the mapping (column_map, href_column, "
            f"bbox_columns); its columns: {list(names)}"
        )


def load_rows(data: ds.Dataset | pa.Table, mapping: TableMapping, *, where: str) -> pa.Table:
    """Read the rows (projection + predicate pushed to the dataset) after checking columns."""
    names = data.schema.names
    check_columns(names, mapping, where=where)
    dataset = data if isinstance(data, ds.Dataset) else ds.dataset(data)
    columns = None
    if mapping.columns is not None:
        wanted = [*mapping.columns, *mapping.source_columns()]
        wanted += [c for c in (ID, DATETIME, GEOMETRY, BBOX, ASSETS) if c in names]
        unknown = [c for c in mapping.columns if c not in names]
        if unknown:
            raise BuildError(f"{where} has no column(s) {unknown}; its columns: {list(names)}")
        columns = list(dict.fromkeys(wanted))
    try:
        table = dataset.to_table(columns=columns, filter=mapping.filter_expr)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise BuildError(f"cannot read {where} with filter {mapping.filter_expr}: {exc}") from None
    return _without_views(table)


def _without_views(table: pa.Table) -> pa.Table:
    """Cast string_view / binary_view columns (Polars, DuckDB) to plain string / binary."""
    for i, field in enumerate(table.schema):
        if pa.types.is_string_view(field.type):
            table = table.set_column(
                i, field.with_type(pa.string()), table.column(i).cast(pa.string())
            )
        elif pa.types.is_binary_view(field.type):
            table = table.set_column(
                i, field.with_type(pa.binary()), table.column(i).cast(pa.binary())
            )
    return table


def map_rows(
    table: pa.Table,
    mapping: TableMapping,
    *,
    rewrite: Callable[[str], str] | None = None,
    base_dir: str | None = None,
    where: str = "the table",
    bbox: Sequence[float] | None = None,
    date_range: Sequence[Any] | None = None,
) -> tuple[pa.Table, list[BandSource]]:
    """Rename mapped columns, derive footprints, keep rows in bbox/date_range, build bands."""
    geometry_field = None
    for source, canonical in (mapping.column_map or {}).items():
        if source == canonical:
            continue
        if canonical == GEOMETRY:
            geometry_field = table.schema.field(source)
        if canonical in table.column_names:
            table = table.drop_columns([canonical])
        table = table.rename_columns([canonical if c == source else c for c in table.column_names])
    if GEOMETRY in table.column_names:
        field = geometry_field or table.schema.field(GEOMETRY)
        crs = mapping.geometry_crs or normalize.geoarrow_crs(field)
        table = table.set_column(
            table.schema.get_field_index(GEOMETRY),
            GEOMETRY,
            normalize.to_wkb(table.column(GEOMETRY), crs=crs),
        )
    if mapping.bbox_columns:
        bb = mapping.bbox_columns
        arrays = [pc.cast(table.column(bb[k]), pa.float64()).combine_chunks() for k in BBOX_KEYS]
        box = pa.StructArray.from_arrays(arrays, fields=list(BBOX_TYPE))
        if BBOX in table.column_names:
            table = table.drop_columns([BBOX])
        table = table.append_column(BBOX, box)
        if GEOMETRY not in table.column_names:
            geoms = shapely.box(*(np.asarray(a.to_numpy(zero_copy_only=False)) for a in arrays))
            table = table.append_column(GEOMETRY, pa.array(shapely.to_wkb(geoms), pa.binary()))
    elif BBOX in table.column_names:
        table = table.set_column(
            table.schema.get_field_index(BBOX), BBOX, _bbox_column(table.column(BBOX))
        )
    elif GEOMETRY in table.column_names:
        table = table.append_column(
            BBOX, normalize.bbox_from_wkb(table.column(GEOMETRY).combine_chunks())
        )
    if DATETIME not in table.column_names:
        table = table.append_column(DATETIME, pa.nulls(table.num_rows, normalize.TIMESTAMP))
    else:
        table = table.set_column(
            table.schema.get_field_index(DATETIME),
            DATETIME,
            normalize.to_timestamps(table.column(DATETIME)),
        )
    table = filter_rows(table, bbox=bbox, date_range=date_range)
    if table.num_rows == 0:
        raise BuildError(
            f"no rows of {where} match bbox={bbox} date_range={date_range}; widen the filters"
        )
    bands = _bands(table, mapping, rewrite=rewrite, base_dir=base_dir, where=where)
    if ID not in table.column_names:
        table = table.append_column(ID, pa.array(bands[0].hrefs, pa.string()))
    return table, bands


def _bbox_column(col: pa.ChunkedArray) -> pa.Array:
    """A bbox column as the collection's struct (from a struct or a 4/6-number list)."""
    arr = col.combine_chunks()
    if pa.types.is_struct(arr.type):
        names = {arr.type.field(i).name for i in range(arr.type.num_fields)}
        if {"xmin", "ymin", "xmax", "ymax"} <= names:
            return pa.StructArray.from_arrays(
                [pc.cast(arr.field(k), pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")],
                fields=list(BBOX_TYPE),
                mask=arr.is_null(),
            )
    if pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        return normalize.bbox_from_values(arr.to_pylist())
    raise BuildError(f"column 'bbox' has type {arr.type}: expected a struct or a list of 4 numbers")


def _resolve_href(href: str | None, base_dir: str | None, rewrite: Callable | None) -> str | None:
    if href is None or href == "":
        return None
    href = str(href)
    if base_dir and "://" not in href and not href.startswith("/"):
        href = posixpath.normpath(posixpath.join(base_dir, href))
    return rewrite(href) if rewrite else href


def _bands(
    table: pa.Table,
    mapping: TableMapping,
    *,
    rewrite: Callable[[str], str] | None,
    base_dir: str | None,
    where: str,
) -> list[BandSource]:
    index_map = dict(mapping.band_index_map or {})
    if mapping.href_column:
        raw = table.column(mapping.href_column).to_pylist()
        hrefs = [_resolve_href(h, base_dir, rewrite) for h in raw]
        codes = list(index_map) or list(mapping.band_codes or []) or [mapping.href_column]
        if len(codes) > 1 and not index_map:
            raise BuildError(
                f"bands {codes} all come from href_column {mapping.href_column!r}: pass "
                "band_index_map to say which sample of the file each band is"
            )
        if mapping.band_codes and index_map:
            unknown = sorted(set(mapping.band_codes) - set(index_map))
            if unknown:
                raise BuildError(
                    f"band_codes {unknown} are not in band_index_map {list(index_map)}"
                )
            codes = [c for c in codes if c in set(mapping.band_codes)]
        missing = ["row has no href" if h is None else None for h in hrefs]
        return [
            BandSource(
                code=code,
                hrefs=hrefs,
                band_index=int(index_map.get(code, 0)),
                header_of=codes[0] if i else None,
                missing=missing,
            )
            for i, code in enumerate(codes)
        ]
    if ASSETS in table.column_names:
        return _bands_from_assets(table, mapping, rewrite=rewrite, base_dir=base_dir, where=where)
    raise BuildError(
        f"{where} has no href column: pass href_column (the column of COG URLs) or provide an "
        f"'assets' column; its columns: {table.column_names}"
    )


def _bands_from_assets(
    table: pa.Table,
    mapping: TableMapping,
    *,
    rewrite: Callable[[str], str] | None,
    base_dir: str | None,
    where: str,
) -> list[BandSource]:
    rows = table.column(ASSETS).to_pylist()
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(k for k, v in (row or {}).items() if v))
    if mapping.band_map:
        band_map = dict(mapping.band_map)
    elif mapping.band_codes:
        band_map = {c: c for c in mapping.band_codes}
    else:
        band_map = {k: k for k in keys}
    missing_keys = sorted({a for a in band_map.values() if a not in keys})
    if missing_keys:
        raise BuildError(
            f"asset key(s) {missing_keys} are not in the 'assets' column of {where}; asset keys "
            f"that exist: {list(keys)}"
        )
    index_map = dict(mapping.band_index_map or {})
    owners: dict[str, str] = {}
    out = []
    for band, key in band_map.items():
        owner = owners.setdefault(key, band)
        hrefs: list[str | None] = []
        missing: list[str | None] = []
        idx_from_row: list[int] = []
        for row in rows:
            asset = (row or {}).get(key) or {}
            href = _resolve_href(asset.get("href"), base_dir, rewrite)
            hrefs.append(href)
            missing.append(None if href else f"row has no asset {key!r}")
            idx_from_row.append(int(asset.get("band_index") or 0))
        index = index_map.get(band, idx_from_row[0] if idx_from_row else 0)
        out.append(
            BandSource(
                code=band,
                hrefs=hrefs,
                band_index=int(index),
                header_of=owner if owner != band else None,
                missing=missing,
            )
        )
    return out


def filter_rows(
    table: pa.Table,
    *,
    bbox: Sequence[float] | None = None,
    date_range: Sequence[Any] | None = None,
) -> pa.Table:
    """Rows overlapping ``bbox`` (lon/lat) and within ``date_range`` (end day inclusive)."""
    mask = None
    if bbox is not None:
        if BBOX not in table.column_names:
            raise BuildError(
                "cannot filter by bbox: the table has no geometry, bbox or bbox_columns"
            )
        b = table.column(BBOX).combine_chunks()
        m = pc.and_(
            pc.and_(
                pc.greater_equal(b.field("xmax"), bbox[0]), pc.less_equal(b.field("xmin"), bbox[2])
            ),
            pc.and_(
                pc.greater_equal(b.field("ymax"), bbox[1]), pc.less_equal(b.field("ymin"), bbox[3])
            ),
        )
        mask = m
    if date_range is not None:
        times = normalize.to_timestamps(table.column(DATETIME))
        start = normalize.parse_datetime(date_range[0])
        end = normalize.parse_datetime(date_range[1], end_of_day=True)
        m = pc.and_(
            pc.greater_equal(times, pa.scalar(start, normalize.TIMESTAMP)),
            pc.less_equal(times, pa.scalar(end, normalize.TIMESTAMP)),
        )
        mask = m if mask is None else pc.and_(mask, m)
    if mask is None:
        return table
    return table.filter(pc.fill_null(mask, False))
