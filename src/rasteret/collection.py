"""Collection: a GeoParquet table of scenes whose rows carry every band's parsed TIFF header.

A :class:`Collection` wraps a ``pyarrow.dataset`` view. Filters (:meth:`Collection.subset`,
:meth:`Collection.where`) return new views and never touch the data; the table streams to
PyArrow, DuckDB, Polars and GeoPandas through ``__arrow_c_stream__``; :meth:`iter_records`
rebuilds the headers reads need with no I/O beyond the Parquet columns asked for.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import shapely

from rasteret.errors import BandNotFoundError, CollectionError, GeometryError
from rasteret.ingest import naming
from rasteret.ingest import schema as S
from rasteret.ingest.arrow import as_arrow
from rasteret.ingest.metadata import RASTERET_KEY, CollectionInfo
from rasteret.ingest.normalize import parse_datetime, to_wkb
from rasteret.ingest.report import BuildReport
from rasteret.ingest.rowcache import ROW, RowCache, Selection
from rasteret.ingest.store import (
    check_schema,
    geo_metadata,
    open_dataset,
    read_report,
    write_collection,
)
from rasteret.records import BandRef, RecordRef
from rasteret.tiff.model import TiffHeader

if TYPE_CHECKING:
    from affine import Affine
    from pyproj import CRS

    from rasteret.accessor import RasterAccessor

RECORD_BATCH_ROWS = 256
_OVERRIDES = ("nodata", "scale", "offset")
_ASSET_PREFIX = "\x00asset:"
_GEOARROW_WKB = {
    b"ARROW:extension:name": b"geoarrow.wkb",
    b"ARROW:extension:metadata": json.dumps({"crs": "OGC:CRS84"}).encode(),
}


def default_workspace() -> Path:
    """``$RASTERET_WORKSPACE`` or ``~/rasteret_workspace``: where builds are cached."""
    return Path(os.environ.get("RASTERET_WORKSPACE") or "~/rasteret_workspace").expanduser()


class Collection:
    """An immutable, filterable view of a collection table.

    dataset: the ``pyarrow.dataset.Dataset`` behind the view (filters already applied).
    name / description / data_source / start_date / end_date: as stored in the file metadata
    (or given when wrapping a table).
    backend: the Backend its build used (a dataset's credentials and URL rewrites); reads use
    it when they are given none.
    """

    def __init__(
        self,
        dataset: ds.Dataset | None = None,
        *,
        name: str = "",
        description: str = "",
        data_source: str = "",
        start_date: dt.datetime | None = None,
        end_date: dt.datetime | None = None,
        info: CollectionInfo | None = None,
        path: str | None = None,
        build_report: BuildReport | None = None,
        backend: Any = None,
    ) -> None:
        if dataset is None:
            raise CollectionError("a Collection needs a dataset (use rasteret.load or build)")
        if isinstance(dataset, pa.Table):
            dataset = ds.dataset(dataset)
        base = info or CollectionInfo.from_metadata(dataset.schema.metadata)
        self.dataset = dataset
        self.info = base.with_(
            name=name or base.name,
            description=description or base.description,
            data_source=data_source or base.data_source,
            start_date=start_date or base.start_date,
            end_date=end_date or base.end_date,
        )
        self.path = path
        self.backend = backend
        self.build_report = build_report or self.info.report
        # views share their root's in-memory rows; _filter is what selects theirs
        self._rows = RowCache(dataset)
        self._filter: ds.Expression | None = None
        self._legacy = any(
            S.is_legacy_band_type(dataset.schema.field(S.band_column(b)).type)
            for b in S.bands_in_schema(dataset.schema)
        )

    # --- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def data_source(self) -> str:
        return self.info.data_source

    @property
    def start_date(self) -> dt.datetime | None:
        return self.info.start_date

    @property
    def end_date(self) -> dt.datetime | None:
        return self.info.end_date

    @property
    def schema(self) -> pa.Schema:
        return self.dataset.schema

    def _view(self, dataset: ds.Dataset, expr: ds.Expression) -> Collection:
        view = Collection(
            dataset,
            info=self.info,
            path=self.path,
            build_report=self.build_report,
            backend=self.backend,
        )
        view._rows = self._rows
        view._filter = expr if self._filter is None else self._filter & expr
        return view

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_parquet(
        cls,
        path: str | os.PathLike[str],
        name: str = "",
        *,
        data_source: str = "",
        defer_dataset_open: bool = False,
    ) -> Collection:
        """Open a collection folder or Parquet file written by a build or :meth:`export`.

        data_source: dataset id to record (default: the one stored in the file).
        defer_dataset_open: accepted for the reference's signature; opening reads only the
            file listing and footers, so there is nothing to defer.
        """
        dataset = open_dataset(path)
        text = os.fspath(path)
        report = read_report(text) if "://" not in text else None
        return cls(dataset, name=name, data_source=data_source, path=text, build_report=report)

    @staticmethod
    def create_name(custom_name: str, date_range: tuple[Any, Any], data_source: str) -> str:
        """The reference's standard name ``{custom}_{YYYYMM-MM}_{source}`` (see
        :func:`rasteret.ingest.naming.create_name`)."""
        return naming.create_name(custom_name, date_range, data_source)

    @staticmethod
    def parse_name(name: str) -> dict[str, str | None]:
        """``custom_name`` / ``data_source`` / ``name`` of a :meth:`create_name` name."""
        return naming.parse_name(name)

    @classmethod
    def from_arrow(cls, data: Any, **kwargs: Any) -> Collection:
        """Same as :func:`as_collection`."""
        return as_collection(data, **kwargs)

    # --- filters -----------------------------------------------------------------------------

    def where(self, expr: ds.Expression) -> Collection:
        """Rows matching a PyArrow expression, e.g. ``pc.field("eo:cloud_cover") < 10``."""
        if not isinstance(expr, ds.Expression):
            raise CollectionError(
                f"where() takes a pyarrow.compute expression, got {type(expr).__name__}"
            )
        try:
            return self._view(self.dataset.filter(expr), expr)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise CollectionError(
                f"cannot filter with {expr}: {exc}; columns: {self.schema.names}"
            ) from None

    def subset(
        self,
        *,
        cloud_cover_lt: float | None = None,
        date_range: tuple[Any, Any] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        geometries: Any = None,
        split: str | Sequence[str] | None = None,
        split_column: str = "split",
    ) -> Collection:
        """Rows matching every given criterion.

        cloud_cover_lt: ``eo:cloud_cover`` strictly below this (0-100).
        date_range: (start, end), both inclusive; a date without a time as end means the
            whole of that day.
        bbox: (minx, miny, maxx, maxy) in lon/lat; rows whose bbox overlaps it.
        geometries: shapely geometries, WKB, GeoJSON, a bbox tuple or a GeoSeries/GeoDataFrame;
            rows whose footprint really intersects any of them.
        split: value(s) of ``split_column``.
        """
        given = [cloud_cover_lt, date_range, bbox, geometries, split]
        if all(v is None for v in given):
            raise CollectionError(
                "subset() needs at least one filter: cloud_cover_lt, date_range, bbox, "
                "geometries or split"
            )
        expr: ds.Expression | None = None

        def add(e: ds.Expression) -> None:
            nonlocal expr
            expr = e if expr is None else expr & e

        if cloud_cover_lt is not None:
            value = float(cloud_cover_lt)
            if not 0 <= value <= 100:
                raise CollectionError(f"cloud_cover_lt must be within 0..100, got {value}")
            self._require("eo:cloud_cover", "cloud_cover_lt")
            add(pc.field("eo:cloud_cover") < value)
        if date_range is not None:
            add(self._date_expr(date_range))
        if bbox is not None:
            add(self._bbox_expr(_check_bbox(bbox)))
        if split is not None:
            self._require(split_column, "split")
            values = [split] if isinstance(split, str) else list(split)
            add(pc.field(split_column).isin(values))
        view = self.where(expr) if expr is not None else self
        if geometries is not None:
            view = view._intersecting(_geometries(geometries))
        return view

    def select_split(
        self, split: str | Sequence[str], *, split_column: str = "split"
    ) -> Collection:
        """Rows of one split (or several)."""
        return self.subset(split=split, split_column=split_column)

    def _require(self, column: str, what: str) -> None:
        if column not in self.schema.names:
            raise CollectionError(
                f"{what} needs a {column!r} column, which this collection does not have; "
                f"columns: {self.schema.names}"
            )

    def _date_expr(self, date_range: tuple[Any, Any]) -> ds.Expression:
        if not isinstance(date_range, Sequence) or len(date_range) != 2:
            raise CollectionError(f"date_range must be (start, end), got {date_range!r}")
        start = parse_datetime(date_range[0])
        end = parse_datetime(date_range[1], end_of_day=True)
        if start is None or end is None:
            raise CollectionError(f"date_range needs a start and an end, got {date_range!r}")
        if start > end:
            raise CollectionError(f"date_range starts after it ends: {date_range!r}")
        col_type = self.schema.field(S.DATETIME).type
        if not pa.types.is_timestamp(col_type):
            raise CollectionError(f"column 'datetime' has type {col_type}, not a timestamp")
        if col_type.tz is None:
            start, end = (d.astimezone(dt.UTC).replace(tzinfo=None) for d in (start, end))
        field = pc.field(S.DATETIME)
        return (field >= pa.scalar(start, col_type)) & (field <= pa.scalar(end, col_type))

    def _bbox_expr(self, bbox: tuple[float, float, float, float]) -> ds.Expression:
        if S.BBOX not in self.schema.names or not pa.types.is_struct(
            self.schema.field(S.BBOX).type
        ):
            raise CollectionError("this collection has no 'bbox' struct column to filter on")
        minx, miny, maxx, maxy = bbox
        return (
            (pc.field(S.BBOX, "xmax") >= minx)
            & (pc.field(S.BBOX, "xmin") <= maxx)
            & (pc.field(S.BBOX, "ymax") >= miny)
            & (pc.field(S.BBOX, "ymin") <= maxy)
        )

    def _intersecting(self, geoms: np.ndarray) -> Collection:
        """Rows whose footprint intersects any of ``geoms`` (bbox pre-filter, then shapely)."""
        prefilter: ds.Expression | None = None
        for g in geoms:
            e = self._bbox_expr(tuple(shapely.bounds(g)))
            prefilter = e if prefilter is None else prefilter | e
        candidates = self.dataset.to_table(columns=[S.ID, S.GEOMETRY], filter=prefilter)
        footprints = shapely.from_wkb(
            np.asarray(candidates.column(S.GEOMETRY).to_pylist(), dtype=object)
        )
        tree = shapely.STRtree(footprints)
        hit = np.unique(tree.query(geoms, predicate="intersects")[1])
        ids = pc.take(candidates.column(S.ID), pa.array(hit, pa.int64()))
        return self.where(prefilter & pc.field(S.ID).isin(ids.combine_chunks()))

    # --- inspection --------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.dataset.count_rows()

    @property
    def bands(self) -> list[str]:
        """Band codes with stored headers."""
        return S.bands_in_schema(self.schema)

    def resolve_bands(self, bands: str | Sequence[str]) -> list[str]:
        """Band codes as stored, for requested names (exact, else case-insensitive)."""
        requested = [bands] if isinstance(bands, str) else list(bands)
        if not requested:
            raise BandNotFoundError(f"no bands requested; this collection has {self.bands}")
        available = self.bands
        lower = {b.lower(): b for b in available}
        out: list[str] = []
        unknown: list[str] = []
        for band in requested:
            if band in available:
                out.append(band)
            elif isinstance(band, str) and band.lower() in lower:
                out.append(lower[band.lower()])
            else:
                unknown.append(band)
        if unknown:
            raise BandNotFoundError(
                f"band(s) {unknown} not in collection {self.name or '(unnamed)'!r}; "
                f"bands that exist: {available}"
            )
        return out

    @property
    def crs(self) -> list[str]:
        """Distinct raster CRSs of the rows (``EPSG:n`` or WKT)."""
        if S.CRS_COLUMN in self.schema.names:
            values = pc.unique(self.dataset.to_table(columns=[S.CRS_COLUMN]).column(0))
            found = sorted(v for v in values.to_pylist() if v)
            if found:
                return found
        return [f"EPSG:{e}" for e in self.epsg]

    @property
    def epsg(self) -> list[int]:
        """Distinct EPSG codes of the rows' raster CRSs."""
        if S.EPSG_COLUMN not in self.schema.names:
            return []
        values = pc.unique(self.dataset.to_table(columns=[S.EPSG_COLUMN]).column(0))
        return sorted(int(v) for v in values.to_pylist() if v is not None)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """(xmin, ymin, xmax, ymax) in lon/lat over all rows, or None when empty."""
        if S.BBOX not in self.schema.names:
            return None
        col = self.dataset.to_table(columns=[S.BBOX]).column(0).combine_chunks()
        if len(col) == col.null_count:
            return None
        lo = [pc.min(col.field(k)).as_py() for k in ("xmin", "ymin")]
        hi = [pc.max(col.field(k)).as_py() for k in ("xmax", "ymax")]
        return (lo[0], lo[1], hi[0], hi[1])

    def date_span(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """Earliest and latest ``datetime`` of the rows in this view."""
        col = self.dataset.to_table(columns=[S.DATETIME]).column(0)
        return pc.min(col).as_py(), pc.max(col).as_py()

    def native_res(self, band: str | None = None) -> tuple[float, float]:
        """Pixel size ``(x_res, y_res)`` of ``band`` (default: the first) in its CRS units, from
        the first record with a header for it."""
        band = self._one_band(band)
        for record in self.iter_records([band], columns=[]):
            ref = record.bands.get(band)
            if ref is not None:
                t = ref.header.transform
                return (math.hypot(t.a, t.d), math.hypot(t.b, t.e))
        raise CollectionError(f"no record of this view has a header for band {band!r}")

    def footprints(self, *, crs: Any = None, band: str | None = None) -> Any:
        """Each record's raster extent from ``band``'s header (default: the first band), as a
        GeoDataFrame with ``id``, ``datetime``, ``geometry``.

        Exact pixel-grid boxes in each record's CRS; with ``crs=`` (EPSG code or any CRS
        input) they are reprojected with densified edges. Without it the frame has the
        records' CRS when they share one, else none. Records without a header for ``band``
        are left out.
        """
        import geopandas as gpd
        from pyproj import CRS

        band = self._one_band(band)
        target = CRS.from_user_input(crs) if crs is not None else None
        ids, times, geoms, native = [], [], [], set()
        for record in self.iter_records([band], columns=[]):
            ref = record.bands.get(band)
            if ref is None:
                continue
            header = ref.header
            geom = _grid_box(header.transform, header.width, header.height)
            if target is not None and header.crs != target:
                if header.crs is None:
                    raise CollectionError(
                        f"record {record.record_id!r} has no CRS for band {band!r}: its "
                        f"footprint cannot be put in {crs!r}"
                    )
                geom = _reproject(geom, header.crs, target)
            native.add(header.crs)
            ids.append(record.record_id)
            times.append(record.datetime)
            geoms.append(geom)
        out_crs = target or (next(iter(native)) if len(native) == 1 else None)
        return gpd.GeoDataFrame({"id": ids, "datetime": times}, geometry=geoms, crs=out_crs)

    def _one_band(self, band: str | None) -> str:
        return self.resolve_bands([band])[0] if band is not None else self._all_bands()[0]

    def head(self, n: int = 5, columns: Sequence[str] | None = None) -> pa.Table:
        """The first ``n`` rows."""
        return self.dataset.head(n, columns=self._columns(columns))

    def describe(self) -> DescribeResult:
        """A summary: size, bands, CRSs, bounds, dates, source, build report."""
        start, end = self.date_span() if len(self) else (None, None)
        report = self.build_report
        data: dict[str, Any] = {
            "name": self.name,
            "records": len(self),
            "bands": self.bands,
            "crs": self.epsg,
            "crs_names": self.crs,
            "bounds": self.bounds,
            "date_range": (start, end),
            "data_source": self.data_source,
            "source": self.data_source,
            "built_from": self.info.source,
            "kind": self.info.kind,
            "path": self.path,
            "schema_version": "1 (reference 0.4)" if self._legacy else self.info.schema_version,
            "columns": self.schema.names,
            "build": report.summary() if report else None,
            "failed_assets": len(report.failures) if report else 0,
        }
        if start and end:
            data["dates"] = (start.date().isoformat(), end.date().isoformat())
        return DescribeResult(data)

    def compare_to_catalog(self) -> DescribeResult:
        """This collection beside its dataset registry entry (matched by ``data_source`` id or
        STAC collection): bands present and missing, dates against the source's range,
        coverage, authentication and licence."""
        from rasteret.catalog.registry import DatasetRegistry

        source = self.data_source
        entry = DatasetRegistry.get(source) if source else None
        if entry is None and source:
            entry = next((d for d in DatasetRegistry.list() if d.stac_collection == source), None)
        if entry is None:
            raise CollectionError(
                f"no dataset registry entry for data_source={source!r}; use describe() for a "
                "summary of the collection alone"
            )
        summary = self.describe().data
        catalog_bands = list(entry.band_map or {})
        data = {k: summary[k] for k in ("name", "records", "bands", "bounds", "crs")}
        data["missing_bands"] = [b for b in catalog_bands if b not in self.bands]
        if "dates" in summary:
            data["dates"] = summary["dates"]
        data["source"] = source
        data["catalog"] = {
            "name": entry.name,
            "all_bands": catalog_bands,
            "temporal_range": entry.temporal_range,
            "spatial_coverage": entry.spatial_coverage,
            "requires_auth": entry.requires_auth,
            "license": entry.license,
        }
        return DescribeResult(data)

    def __repr__(self) -> str:
        start, end = self.info.start_date, self.info.end_date
        dates = f", {start:%Y-%m-%d}..{end:%Y-%m-%d}" if start and end else ""
        return (
            f"Collection({self.name!r}, source={self.data_source!r}, bands={len(self.bands)}, "
            f"records={len(self)}{dates})"
        )

    # --- Arrow -------------------------------------------------------------------------------

    def _columns(self, columns: Sequence[str] | None) -> list[str] | None:
        if columns is None:
            return None
        missing = [c for c in columns if c not in self.schema.names]
        if missing:
            raise CollectionError(f"no column(s) {missing}; columns: {self.schema.names}")
        return list(columns)

    def to_table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of this view as one PyArrow table (metadata only, never pixels)."""
        return self.dataset.to_table(columns=self._columns(columns))

    def to_batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The rows of this view as a stream of record batches."""
        return iter(self.dataset.to_batches(columns=self._columns(columns)))

    def to_reader(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """A RecordBatchReader whose ``geometry`` is tagged GeoArrow WKB in OGC:CRS84."""
        scanner = self.dataset.scanner(columns=self._columns(columns))
        schema = _tag_geometry(scanner.projected_schema)
        batches = (
            pa.RecordBatch.from_arrays(b.columns, schema=schema) for b in scanner.to_batches()
        )
        return pa.RecordBatchReader.from_batches(schema, batches)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.to_reader().__arrow_c_stream__(requested_schema)

    def __arrow_c_schema__(self) -> Any:
        return _tag_geometry(self.schema).__arrow_c_schema__()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self.to_batches()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._filter is not None:  # a filtered dataset does not pickle; its root and filter do
            state["dataset"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.dataset is None:
            self.dataset = self._rows.dataset.filter(self._filter)

    # --- records for reads -------------------------------------------------------------------

    def iter_records(
        self, bands: str | Sequence[str], *, columns: Sequence[str] | None = None
    ) -> Iterator[RecordRef]:
        """One :class:`RecordRef` per row with the headers of ``bands``, rebuilt without I/O.

        Reads only the columns needed: id, datetime, geometry, bbox, collection, assets, the
        bands' header columns (plus those of bands holding a shared file header) and
        ``columns`` (default: every plain property column) for ``RecordRef.properties``.
        A band whose header could not be read at build time is absent from
        ``RecordRef.bands`` for that row.
        """
        wanted = self.resolve_bands(bands)
        names = self.schema.names
        owners = self._owner_bands(wanted)
        header_cols = [S.band_column(b) for b in dict.fromkeys([*wanted, *owners.values()])]
        props = self._property_columns(columns)
        base = [c for c in (S.ID, S.DATETIME, S.GEOMETRY, S.BBOX, S.COLLECTION) if c in names]
        extra = [c for c in (S.CRS_COLUMN, S.EPSG_COLUMN) if c in names and self._legacy]
        read = {c: pc.field(c) for c in dict.fromkeys([*base, *extra, *header_cols, *props])}
        asset_type = self.schema.field(S.ASSETS).type
        for b in dict.fromkeys([*wanted, *owners.values()]):
            if pa.types.is_struct(asset_type) and asset_type.get_field_index(b) >= 0:
                read[_ASSET_PREFIX + b] = pc.field(S.ASSETS, b)  # only this band's href
        plain = {k: v for k, v in read.items() if k not in header_cols}
        chosen = self._rows.select(plain, self._filter, header_cols)
        if chosen is None:  # not cached (too large): scan the Parquet files
            for batch in self.dataset.to_batches(columns=read, batch_size=RECORD_BATCH_ROWS):
                yield from self._records_of(batch, wanted, owners, props, None)
            return
        for batch in chosen.table.to_batches(RECORD_BATCH_ROWS):
            yield from self._records_of(batch, wanted, owners, props, chosen)

    def _owner_bands(self, bands: Sequence[str]) -> dict[str, str]:
        """``{band: band holding its file header}`` for bands stored in a shared file."""
        if self._legacy:
            return {}
        declared = self.info.header_of
        out = {b: declared[b] for b in bands if declared.get(b)}
        # collections written by rasteret declare every shared header in their metadata;
        # other tables (as_collection) are scanned for references
        trusted = RASTERET_KEY in (self.schema.metadata or {})
        undeclared = [] if trusted else [b for b in bands if b not in declared]
        if undeclared:
            cols = [S.band_column(b) for b in undeclared]
            table = self.dataset.to_table(columns={c: pc.field(c, "header_of") for c in cols})
            for b, c in zip(undeclared, cols, strict=True):
                refs = [r for r in pc.unique(table.column(c)).to_pylist() if r]
                if len(refs) > 1:
                    raise CollectionError(
                        f"band {b!r} refers to several header columns {refs}; rebuild it"
                    )
                if refs:
                    out[b] = refs[0]
        missing = sorted({o for o in out.values() if o not in self.bands})
        if missing:
            raise CollectionError(
                f"header column(s) {[S.band_column(m) for m in missing]} referenced by "
                f"{sorted(out)} are missing from this collection"
            )
        return out

    def _property_columns(self, columns: Sequence[str] | None) -> list[str]:
        if columns is not None:
            return self._columns(columns) or []
        skip = {S.ID, S.DATETIME, S.GEOMETRY, S.BBOX, S.ASSETS, S.COLLECTION}
        return [
            f.name
            for f in self.schema
            if f.name not in skip
            and not f.name.endswith(S.BAND_SUFFIX)
            and not pa.types.is_nested(f.type)
            and not pa.types.is_binary(f.type)
            and not pa.types.is_large_binary(f.type)
        ]

    def _records_of(
        self,
        batch: pa.RecordBatch,
        bands: Sequence[str],
        owners: Mapping[str, str],
        props: Sequence[str],
        chosen: Selection | None,
    ) -> Iterator[RecordRef]:
        n = batch.num_rows
        names = batch.schema.names
        hrefs: dict[str, list[str | None]] = {}
        indexes: dict[str, list[int | None]] = {}
        for b in dict.fromkeys([*bands, *owners.values()]):
            if _ASSET_PREFIX + b not in names:
                hrefs[b] = [None] * n
                indexes[b] = [None] * n
                continue
            asset = batch.column(_ASSET_PREFIX + b)
            hrefs[b] = asset.field("href").to_pylist()
            has_index = asset.type.get_field_index("band_index") >= 0
            indexes[b] = asset.field("band_index").to_pylist() if has_index else [None] * n
        rows = batch.column(ROW).to_numpy() if chosen is not None else np.arange(n)
        headers = self._headers_of(
            batch, [*dict.fromkeys([*bands, *owners.values()])], hrefs, rows, chosen
        )
        band_fields: dict[str, list[tuple[Any, Any, Any]]] = {}
        for b in bands if not self._legacy else ():
            column = _header_column(batch, chosen, b)

            def overrides(pos: np.ndarray, column: Any = column) -> list[tuple[Any, Any, Any]]:
                parts = [_take(column.field(k), rows, pos, chosen) for k in _OVERRIDES]
                return list(zip(*(p.to_pylist() for p in parts), strict=True))

            band_fields[b] = self._decoded(S.band_column(b) + ":overrides", rows, overrides, chosen)
        ids = batch.column(S.ID).to_pylist()
        times = batch.column(S.DATETIME).to_pylist() if S.DATETIME in names else [None] * n
        geoms = batch.column(S.GEOMETRY).to_pylist() if S.GEOMETRY in names else [None] * n
        boxes = batch.column(S.BBOX).to_pylist() if S.BBOX in names else [None] * n
        colls = batch.column(S.COLLECTION).to_pylist() if S.COLLECTION in names else [None] * n
        prop_values = {p: batch.column(p).to_pylist() for p in props}
        for i in range(n):
            refs: dict[str, BandRef] = {}
            for b in bands:
                header = headers[owners.get(b, b)][i]
                if header is None:
                    continue
                url = hrefs[b][i] or header.source
                index = indexes[b][i] or 0
                fields = band_fields[b][i] if b in band_fields else None
                refs[b] = _band_ref(url, header, index, fields)
            box = boxes[i]
            yield RecordRef(
                record_id=str(ids[i]),
                datetime=_aware(times[i]),
                geometry=geoms[i],
                bbox=(box["xmin"], box["ymin"], box["xmax"], box["ymax"]) if box else None,
                bands=refs,
                collection=colls[i],
                properties={p: prop_values[p][i] for p in props},
            )

    def _headers_of(
        self,
        batch: pa.RecordBatch,
        bands: Sequence[str],
        hrefs: Mapping[str, list[str | None]],
        rows: np.ndarray,
        chosen: Selection | None,
    ) -> dict[str, list[TiffHeader | None]]:
        """Each band's header per row of ``batch``; with the row cache, rebuilt once per row."""
        crs = _legacy_crs(batch) if self._legacy else []
        out: dict[str, list[TiffHeader | None]] = {}
        for b in bands:
            column = _header_column(batch, chosen, b)

            def decode(pos: np.ndarray, column: Any = column, urls: Any = hrefs[b]) -> list[Any]:
                values = _take(column, rows, pos, chosen)
                where = [urls[p] for p in pos]
                if not self._legacy:
                    return S.decode_headers(values, where)
                return [
                    S.decode_legacy_header(v, u or "", crs[p]) if v else None
                    for v, u, p in zip(values.to_pylist(), where, pos, strict=True)
                ]

            out[b] = self._decoded(S.band_column(b), rows, decode, chosen)
        return out

    def _decoded(
        self,
        key: str,
        rows: np.ndarray,
        decode: Callable[[np.ndarray], list[Any]],
        chosen: Selection | None,
    ) -> list[Any]:
        if chosen is None:
            return decode(np.arange(len(rows)))
        return self._rows.decoded(key, rows, decode)

    # --- pixel reads (rasteret.read; see its functions for every option) -------------------

    def get_numpy(self, geometries: Any, bands: str | Sequence[str], **kwargs: Any) -> Any:
        """Pixels of ``bands`` inside ``geometries`` as NumPy (``rasteret.read.get_numpy``)."""
        from rasteret.read import get_numpy

        return get_numpy(self, geometries, bands, **kwargs)

    def get_xarray(self, geometries: Any, bands: str | Sequence[str], **kwargs: Any) -> Any:
        """Pixels as an xarray Dataset (``rasteret.read.get_xarray``)."""
        from rasteret.read import get_xarray

        return get_xarray(self, geometries, bands, **kwargs)

    def get_gdf(self, geometries: Any, bands: str | Sequence[str], **kwargs: Any) -> Any:
        """Pixels as a GeoDataFrame, one row per record, geometry and band."""
        from rasteret.read import get_gdf

        return get_gdf(self, geometries, bands, **kwargs)

    def sample_points(self, points: Any, bands: str | Sequence[str], **kwargs: Any) -> pa.Table:
        """Values of ``bands`` at points, as an Arrow table (``rasteret.read.sample_points``)."""
        from rasteret.read import sample_points

        return sample_points(self, points, bands, **kwargs)

    def read_window(
        self,
        *,
        record_ids: Sequence[str] | pa.Array,
        bounds: tuple[float, float, float, float],
        res: tuple[float, float],
        bands: Sequence[str],
        target_crs: Any = None,
        max_concurrent: int = 50,
        backend: Any = None,
        group_by: str | None = None,
    ) -> np.ndarray:
        """Records ``record_ids`` on the grid ``bounds``/``res``: ``[C, H, W]``, or
        ``[T, C, H, W]`` with ``group_by="datetime"``/``"id"`` (``rasteret.read.read_window``)."""
        from rasteret.read import read_window

        return read_window(
            self,
            record_ids=record_ids,
            bounds=bounds,
            res=res,
            bands=bands,
            target_crs=target_crs,
            max_concurrent=max_concurrent,
            backend=backend,
            group_by=group_by,
        )

    async def iterate_rasters(
        self, data_source: str | None = None, bands: Sequence[str] | None = None
    ) -> AsyncIterator[RasterAccessor]:
        """One :class:`~rasteret.accessor.RasterAccessor` per record, with the headers of
        ``bands`` (default: every band); ``data_source`` overrides the collection's."""
        from rasteret.accessor import RasterAccessor

        source = data_source or self.data_source
        for record in self.iter_records(bands if bands is not None else self._all_bands()):
            yield RasterAccessor(record, source, self.backend)

    async def get_first_raster(self) -> RasterAccessor:
        """The :class:`~rasteret.accessor.RasterAccessor` of the first record."""
        async for raster in self.iterate_rasters():
            return raster
        raise CollectionError("this collection view has no records")

    def _all_bands(self) -> list[str]:
        if not self.bands:
            raise BandNotFoundError("this collection has no band headers ('{band}_metadata')")
        return self.bands

    # --- persistence -------------------------------------------------------------------------

    def export(
        self,
        path: str | os.PathLike[str],
        partition_by: Sequence[str] = (S.YEAR, S.MONTH),
    ) -> Path:
        """Write this view as a collection folder (or one ``.parquet`` file), atomically."""
        target = Path(os.fspath(path)).expanduser()
        names = self.schema.names
        if target.suffix == ".parquet":
            partition_by = ()
        add_partitions = [c for c in (S.YEAR, S.MONTH) if c not in names]
        start, end = self.date_span()
        info = self.info.with_(kind=self.info.kind or "export", start_date=start, end_date=end)
        schema = self.schema
        for c in add_partitions:
            schema = schema.append(pa.field(c, pa.int32()))
        geo = geo_metadata(_geometry_types_of(self), self.bounds)
        metadata = {**(self.schema.metadata or {}), **info.to_metadata(), **geo}
        schema = schema.with_metadata(metadata)

        def tables() -> Iterator[pa.Table]:
            for batch in self.dataset.to_batches():
                table = pa.Table.from_batches([batch])
                if add_partitions:
                    times = table.column(S.DATETIME)
                    table = table.append_column(S.YEAR, pc.year(times).cast(pa.int32()))
                    table = table.append_column(S.MONTH, pc.month(times).cast(pa.int32()))
                yield table

        return write_collection(target, schema, tables(), partition_by=partition_by)

    @staticmethod
    def list_collections(workspace_dir: str | os.PathLike[str] | None = None) -> list[dict]:
        """Collections found in a workspace folder (default :func:`default_workspace`)."""
        root = Path(workspace_dir).expanduser() if workspace_dir else default_workspace()
        if not root.is_dir():
            return []
        found = []
        for child in sorted(root.iterdir()):
            if child.name.startswith((".", "_")) or not (
                child.is_dir() or child.suffix == ".parquet"
            ):
                continue
            try:
                dataset = open_dataset(child)
            except CollectionError:
                continue
            info = CollectionInfo.from_metadata(dataset.schema.metadata)
            kind = info.kind or _kind_from_name(child.name)
            found.append(
                {
                    "name": info.name or child.name,
                    "path": str(child),
                    "kind": kind,
                    "data_source": info.data_source,
                    "date_range": _iso_dates(info.start_date, info.end_date),
                    "size": dataset.count_rows(),
                    "bands": S.bands_in_schema(dataset.schema),
                    "created": info.created,
                }
            )
        return found


@dataclass
class DescribeResult:
    """What :meth:`Collection.describe` returns: ``.data`` dict, ``["key"]``, text and HTML."""

    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def _rows(self) -> list[tuple[str, str]]:
        rows = []
        for key, value in self.data.items():
            if key == "columns":
                value = f"{len(value)} columns"
            elif key == "date_range":
                value = " .. ".join(v.isoformat() if v else "?" for v in value)
            elif isinstance(value, list | tuple):
                value = ", ".join(map(str, value))
            elif isinstance(value, dict):
                value = "; ".join(f"{k}: {v}" for k, v in value.items())
            rows.append((key, "" if value is None else str(value)))
        return rows

    def __repr__(self) -> str:
        width = max(len(k) for k, _ in self._rows())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self._rows())

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self._rows()
        )
        return f"<table>{cells}</table>"


# --- helpers -----------------------------------------------------------------------------------


def _band_ref(
    url: str,
    header: TiffHeader,
    band_index: int,
    fields: tuple[Any, Any, Any] | None,
) -> BandRef:
    nodata, scale, offset = fields or (None, None, None)
    if scale is None:
        scale = header.scales[band_index] if band_index < len(header.scales) else 1.0
    if offset is None:
        offset = header.offsets[band_index] if band_index < len(header.offsets) else 0.0
    return BandRef(
        url=url,
        header=header,
        band_index=band_index,
        nodata=header.nodata if nodata is None else nodata,
        scale=float(scale),
        offset=float(offset),
    )


def _header_column(batch: pa.RecordBatch, chosen: Selection | None, band: str) -> Any:
    """The header column of ``band``: the batch's own, or the row cache's (all its rows)."""
    name = S.band_column(band)
    return chosen.headers[name] if chosen is not None else batch.column(name)


def _take(column: Any, rows: np.ndarray, pos: np.ndarray, chosen: Selection | None) -> Any:
    """Values of ``column`` at batch positions ``pos`` (cached columns are indexed by row)."""
    if chosen is None:
        return column if len(pos) == len(column) else column.take(pos)
    return column.take(rows[pos])


def _grid_box(transform: Affine, width: int, height: int) -> shapely.Polygon:
    """The extent of a width x height pixel grid: its four corners through the transform
    (counter-clockwise; a box unless the grid is rotated)."""
    corners = [transform @ xy for xy in ((0, 0), (width, 0), (width, height), (0, height))]
    return shapely.geometry.polygon.orient(shapely.Polygon(corners), 1.0)


def _reproject(geom: shapely.Geometry, src: CRS, dst: CRS) -> shapely.Geometry:
    """``geom`` in ``dst``, edges densified (64 points a side) so curved edges stay close."""
    from pyproj import Transformer

    xmin, ymin, xmax, ymax = geom.bounds
    dense = shapely.segmentize(geom, max(xmax - xmin, ymax - ymin) / 64)
    to = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(dense, lambda xy: np.column_stack(to.transform(xy[:, 0], xy[:, 1])))


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _legacy_crs(batch: pa.RecordBatch) -> list[Any]:
    names = batch.schema.names
    n = batch.num_rows
    texts: list[str | None] = [None] * n
    if S.CRS_COLUMN in names:
        texts = batch.column(S.CRS_COLUMN).to_pylist()
    if S.EPSG_COLUMN in names:
        codes = batch.column(S.EPSG_COLUMN).to_pylist()
        texts = [t or (f"EPSG:{c}" if c else None) for t, c in zip(texts, codes, strict=True)]
    return [S.crs_from_text(t) if t else None for t in texts]


def _tag_geometry(schema: pa.Schema) -> pa.Schema:
    """Mark ``geometry`` as GeoArrow WKB in OGC:CRS84 so DuckDB and GeoPandas see a geometry."""
    idx = schema.get_field_index(S.GEOMETRY)
    if idx < 0 or not pa.types.is_binary(schema.field(idx).type):
        return schema
    field = schema.field(idx)
    return schema.set(idx, field.with_metadata({**(field.metadata or {}), **_GEOARROW_WKB}))


def _geometry_types_of(collection: Collection) -> list[str]:
    meta = (collection.schema.metadata or {}).get(b"geo")
    if meta:
        try:
            return list(json.loads(meta)["columns"][S.GEOMETRY]["geometry_types"])
        except (KeyError, ValueError):
            pass
    return []


def _iso_dates(start: dt.datetime | None, end: dt.datetime | None) -> tuple[str, str] | None:
    """``(first day, last day)`` as ISO dates, as the reference lists them."""
    if start is None or end is None:
        return None
    return (start.date().isoformat(), end.date().isoformat())


def _kind_from_name(name: str) -> str:
    if name.endswith("_stac"):
        return "stac"
    if name.endswith("_records"):
        return "table"
    return "export"


def _check_bbox(bbox: Any) -> tuple[float, float, float, float]:
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise CollectionError(f"bbox must be (minx, miny, maxx, maxy), got {bbox!r}") from None
    if minx > maxx or miny > maxy:
        raise CollectionError(f"bbox must have minx <= maxx and miny <= maxy, got {bbox!r}")
    return minx, miny, maxx, maxy


def _geometries(value: Any) -> np.ndarray:
    """Geometry filter input as an array of shapely geometries in lon/lat."""
    module = type(value).__module__.split(".")[0]
    if module == "geopandas":
        series = value.geometry if hasattr(value, "geometry") else value
        if series.crs is not None:
            series = series.to_crs(4326)
        return np.asarray(series.values, dtype=object)
    if isinstance(value, tuple) and len(value) == 4 and all(_is_number(v) for v in value):
        return np.array([shapely.box(*_check_bbox(value))], dtype=object)
    items = value if isinstance(value, list | np.ndarray | pa.Array) else [value]
    try:
        wkb = to_wkb(items)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input
        raise GeometryError(
            f"cannot read geometries {type(value).__name__}: {exc}; pass shapely geometries, "
            "WKB, GeoJSON dicts, a bbox tuple or a GeoSeries"
        ) from None
    geoms = shapely.from_wkb(np.asarray(wkb.to_pylist(), dtype=object))
    if not len(geoms) or shapely.is_missing(geoms).any():
        raise GeometryError("geometries must be non-empty and non-null")
    return geoms


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating)


# --- module functions -----------------------------------------------------------------------


def load(path: str | os.PathLike[str], name: str = "", *, backend: Any = None) -> Collection:
    """Open a collection by path (folder, ``.parquet`` file, URI) or registered dataset id.

    backend: what reads of the collection use (credentials, stores), combined with the
    dataset's access recipe; without it, reads use the dataset's recipe and the default.
    """
    text = os.fspath(path)
    if "://" in text or Path(text).expanduser().exists():
        collection = Collection.from_parquet(text, name=name)
        if backend is None:
            return collection
        return with_info(collection, collection.info, backend=backend)
    from rasteret.catalog.registry import DatasetRegistry

    descriptor = DatasetRegistry.get(text)
    if descriptor is None:
        raise CollectionError(
            f"no collection at {text!r} and no registered dataset with that id: pass the folder "
            "a build or export wrote, or a dataset id (see rasteret.DatasetRegistry.list())"
        )
    uri = descriptor.collection_uri
    if not uri:
        raise CollectionError(
            f"dataset {text!r} has no built collection (collection_uri); build one with "
            f"rasteret.build({text!r}, name=...)"
        )
    from rasteret.io.descriptor import backend_for_descriptor

    collection = Collection.from_parquet(uri, name=name)
    info = collection.info.with_(data_source=collection.data_source or descriptor.id)
    return with_info(collection, info, backend=backend_for_descriptor(descriptor, backend))


def as_collection(
    table: Any,
    *,
    name: str = "",
    data_source: str = "",
    description: str = "",
    start_date: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
    require_band_metadata: bool = True,
) -> Collection:
    """Wrap a read-ready Arrow table (PyArrow, DuckDB, Polars, GeoPandas ...) as a Collection."""
    data = as_arrow(table)
    dataset = data if isinstance(data, ds.Dataset) else ds.dataset(data)
    check_schema(dataset.schema, where=f"the {type(table).__name__} given")
    if require_band_metadata and not S.bands_in_schema(dataset.schema):
        raise CollectionError(
            "the table has no '{band}_metadata' header columns, so reads would need header "
            "requests; build it with rasteret.build_from_table(...) or pass "
            "require_band_metadata=False"
        )
    if not data_source and S.COLLECTION in dataset.schema.names:
        values = dataset.head(1, columns=[S.COLLECTION]).column(0).to_pylist()
        data_source = values[0] if values and values[0] else ""
    return Collection(
        dataset,
        name=name,
        data_source=data_source,
        description=description,
        start_date=start_date,
        end_date=end_date,
    )


def with_info(collection: Collection, info: CollectionInfo, backend: Any = None) -> Collection:
    """The same view with other collection facts (and backend), as builds return it."""
    view = Collection(
        collection.dataset,
        info=info,
        path=collection.path,
        build_report=info.report or collection.build_report,
        backend=backend if backend is not None else collection.backend,
    )
    view._rows, view._filter = collection._rows, collection._filter
    return view
