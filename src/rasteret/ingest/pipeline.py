"""The one step every build ends in: header pass, normalisation to the collection schema, write.

Build paths (STAC, static catalogs, record tables) only produce a :class:`BuildPlan`: a table of
records (id, datetime, footprint, properties) plus, per band, the href of its file in each row.
This module parses the headers (chunk by chunk, so memory stays bounded), attaches the band
structs, fills footprints and CRS columns from headers where the source had none, and writes
the collection atomically.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.errors import BuildError
from rasteret.ingest import normalize, schema
from rasteret.ingest.headers import HeaderPass, HeaderReader, read_headers, show_progress
from rasteret.ingest.metadata import CollectionInfo, now_iso
from rasteret.ingest.report import AssetFailure, BuildReport
from rasteret.ingest.store import geo_metadata, write_collection, write_report
from rasteret.io.backend import Backend
from rasteret.io.loop import run_sync
from rasteret.tiff.model import TiffHeader

CHUNK_ROWS = 2048


class BuildWarning(UserWarning):
    """Some assets could not be indexed; the collection lists them in ``build_report``."""


@dataclass
class BandSource:
    """One band of a build: the href of its file in each row and where the band sits in it.

    header_of: another band stored in the same file (its header is stored once, there).
    nodata / scale / offset: per-row overrides (e.g. STAC ``raster:bands``), or None.
    missing: per-row reason when a row has no href for this band.
    """

    code: str
    hrefs: list[str | None]
    band_index: int = 0
    header_of: str | None = None
    nodata: list[float | None] | None = None
    scale: list[float | None] | None = None
    offset: list[float | None] | None = None
    missing: list[str | None] | None = None


@dataclass
class BuildPlan:
    """Records and bands of a build before any header is read.

    records: columns id, datetime (any date type), optional geometry (WKB, CRS84) and bbox
        (struct), optional collection, then properties and user columns.
    """

    records: pa.Table
    bands: list[BandSource]
    info: CollectionInfo = field(default_factory=CollectionInfo)

    def __post_init__(self) -> None:
        if not self.bands:
            raise BuildError("a build needs at least one band")
        n = self.records.num_rows
        for band in self.bands:
            if len(band.hrefs) != n:
                raise BuildError(f"band {band.code!r} has {len(band.hrefs)} hrefs for {n} rows")


@dataclass
class HeaderOptions:
    """How the header pass runs."""

    backend: Backend
    max_concurrent: int = 50
    progress: bool | None = None
    strict: bool = False
    header_cache: MutableMapping[str, TiffHeader] | None = None
    reader: HeaderReader | None = None
    chunk_rows: int = CHUNK_ROWS


class _Build:
    """State of one build: normalised records, output schema, report, chunked header pass."""

    def __init__(self, plan: BuildPlan, options: HeaderOptions) -> None:
        self.plan = plan
        self.options = options
        self.records = records = _prepare_records(plan.records)
        self.n = n = records.num_rows
        if n == 0:
            raise BuildError("no records to build a collection from")
        self.owners = [b for b in plan.bands if b.header_of is None]
        self.all_urls = {u for b in self.owners for u in b.hrefs if u}
        self.cache: MutableMapping[str, TiffHeader] = (
            options.header_cache if options.header_cache is not None else {}
        )
        self.started = time.perf_counter()
        self.report = BuildReport(
            records=n, bands=[b.code for b in plan.bands], files=len(self.all_urls)
        )
        times = records.column(schema.DATETIME)
        info = plan.info
        self.info = info.with_(
            start_date=pc.min(times).as_py() if info.start_date is None else info.start_date,
            end_date=pc.max(times).as_py() if info.end_date is None else info.end_date,
            created=now_iso(),
            header_of={b.code: b.header_of for b in plan.bands if b.header_of},
        )
        geom = records.column(schema.GEOMETRY).combine_chunks()
        geo_types = set(normalize.geometry_types(geom)) | (
            {"Polygon"} if geom.null_count else set()
        )
        bbox = records.column(schema.BBOX)
        overall = _overall_bbox(bbox) if not bbox.null_count else None
        meta = {**self.info.to_metadata(), **geo_metadata(sorted(geo_types), overall)}
        self.schema = _output_schema(records, plan.bands).with_metadata(meta)

    def chunks(self, bar: Any) -> Iterator[pa.Table]:
        """Assembled chunks of rows, each after the header pass of its files."""
        options = self.options
        for start in range(0, self.n, options.chunk_rows):
            stop = min(self.n, start + options.chunk_rows)
            urls = [u for b in self.owners for u in b.hrefs[start:stop] if u]
            hp = run_sync(
                read_headers(
                    urls,
                    backend=options.backend,
                    max_concurrent=options.max_concurrent,
                    cache=self.cache,
                    reader=options.reader,
                    progress_bar=bar,
                )
            )
            _count(self.report, hp)
            chunk = self.records.slice(start, stop - start)
            table, failures = _assemble(chunk, self.plan.bands, hp, start)
            self.report.failures.extend(failures)
            if failures and options.strict:
                raise BuildError(
                    f"{len(failures)} asset(s) could not be indexed (strict=True):\n  "
                    + "\n  ".join(str(f) for f in failures[:10])
                )
            yield table

    def finish(self) -> None:
        """Fail when nothing at all could be indexed; stamp the duration."""
        if self.report.parsed + self.report.cached == 0:
            raise BuildError(
                "no asset could be indexed; first failures:\n  "
                + "\n  ".join(self.report.failure_lines())
            )
        self.report.seconds = time.perf_counter() - self.started

    @contextlib.contextmanager
    def progress(self) -> Iterator[Any]:
        bar = _progress_bar(len(self.all_urls), self.options.progress)
        try:
            yield bar
        finally:
            if bar is not None:
                bar.close()

    def done(self) -> CollectionInfo:
        if self.report.failures:
            warnings.warn(
                f"{len(self.report.failures)} asset(s) could not be indexed and are null in the "
                "collection:\n  " + "\n  ".join(self.report.failure_lines()),
                BuildWarning,
                stacklevel=4,
            )
        return self.info.with_(report=self.report)


def run_build(plan: BuildPlan, target: Path, options: HeaderOptions) -> CollectionInfo:
    """Parse headers, normalise and write ``plan`` to ``target``; return the written info.

    Chunks of rows stream through the header pass into the writer, so memory holds one chunk
    of tile tables at a time. The build report goes to a sidecar (``_build_report.json``)
    written last, before the folder is renamed into place.
    """
    build = _Build(plan, options)

    def finish(folder: Path) -> None:
        build.finish()
        write_report(folder, build.report)

    with build.progress() as bar:
        write_collection(target, build.schema, build.chunks(bar), finish=finish)
    return build.done()


def build_table(plan: BuildPlan, options: HeaderOptions) -> tuple[CollectionInfo, pa.Table]:
    """Like :func:`run_build` but keep the collection in memory (nothing written)."""
    build = _Build(plan, options)
    with build.progress() as bar:
        tables = [t.select(build.schema.names).cast(build.schema) for t in build.chunks(bar)]
    build.finish()
    info = build.done()
    table = pa.concat_tables(tables).replace_schema_metadata(
        {**(build.schema.metadata or {}), **info.to_metadata()}
    )
    return info, table


def _count(report: BuildReport, hp: HeaderPass) -> None:
    report.parsed += hp.parsed
    report.cached += hp.cached
    report.header_requests += hp.requests


def _progress_bar(total: int, progress: bool | None) -> Any:
    if not show_progress(progress) or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Indexing headers", unit="file", leave=False)


# --- records ----------------------------------------------------------------------------------


def _prepare_records(records: pa.Table) -> pa.Table:
    """Normalise id, datetime, geometry and bbox columns; drop collection-owned columns."""
    names = records.column_names
    if schema.ID not in names:
        raise BuildError("records need an 'id' column (map one with column_map)")
    if schema.DATETIME not in names:
        raise BuildError("records need a 'datetime' column (map one with column_map)")
    ids = records.column(schema.ID)
    if not pa.types.is_string(ids.type):
        ids = pc.cast(ids, pa.string())
    times = normalize.to_timestamps(records.column(schema.DATETIME))
    if schema.GEOMETRY in names:
        geom = records.column(schema.GEOMETRY).combine_chunks()
        if not pa.types.is_binary(geom.type):
            geom = geom.cast(pa.binary())
    else:
        geom = pa.nulls(records.num_rows, pa.binary())
    if schema.BBOX in names and pa.types.is_struct(records.column(schema.BBOX).type):
        bbox = records.column(schema.BBOX).combine_chunks().cast(schema.BBOX_TYPE)
    else:
        bbox = normalize.bbox_from_wkb(geom)
    reserved = {
        schema.ID,
        schema.DATETIME,
        schema.GEOMETRY,
        schema.BBOX,
        schema.ASSETS,
        schema.YEAR,
        schema.MONTH,
    }
    rest = [c for c in names if c not in reserved and not c.endswith(schema.BAND_SUFFIX)]
    columns = {schema.ID: ids, schema.DATETIME: times, schema.GEOMETRY: geom, schema.BBOX: bbox}
    columns.update({c: records.column(c) for c in rest})
    return pa.table(columns)


def _output_schema(records: pa.Table, bands: Sequence[BandSource]) -> pa.Schema:
    fields = [records.schema.field(c) for c in records.column_names]
    fields = [f for f in fields if f.name not in (schema.CRS_COLUMN, schema.EPSG_COLUMN)]
    fields.append(pa.field(schema.ASSETS, pa.struct([(b.code, schema.ASSET_TYPE) for b in bands])))
    fields.append(pa.field(schema.EPSG_COLUMN, pa.int32()))
    fields.append(pa.field(schema.CRS_COLUMN, pa.string()))
    fields.extend(pa.field(schema.band_column(b.code), schema.BAND_TYPE) for b in bands)
    fields.append(pa.field(schema.YEAR, pa.int32()))
    fields.append(pa.field(schema.MONTH, pa.int32()))
    return pa.schema(fields)


def _assemble(
    records: pa.Table, bands: Sequence[BandSource], hp: HeaderPass, offset: int
) -> tuple[pa.Table, list[AssetFailure]]:
    """Attach band structs and derived columns to one chunk of records."""
    n = records.num_rows
    ids = records.column(schema.ID).to_pylist()
    failures: list[AssetFailure] = []
    header_dicts: dict[str, dict[str, Any]] = {}
    row_header: list[TiffHeader | None] = [None] * n
    present: dict[str, list[bool]] = {}
    columns: dict[str, pa.Array] = {}
    for band in bands:
        hrefs = band.hrefs[offset : offset + n]
        values: list[dict[str, Any] | None] = []
        ok: list[bool] = []
        for i, href in enumerate(hrefs):
            owner_ok = present[band.header_of][i] if band.header_of else True
            header = hp.headers.get(href) if href else None
            if href is None:
                reason = (band.missing[offset + i] if band.missing else None) or "no href"
                failures.append(AssetFailure(ids[i], band.code, "", reason))
                values.append(None)
                ok.append(False)
                continue
            if header is None or not owner_ok:
                reason = hp.failures.get(href, "its file's header could not be read")
                failures.append(AssetFailure(ids[i], band.code, href, reason))
                values.append(None)
                ok.append(False)
                continue
            if row_header[i] is None:
                row_header[i] = header
            overrides = {
                k: (getattr(band, k)[offset + i] if getattr(band, k) is not None else None)
                for k in ("nodata", "scale", "offset")
            }
            if band.header_of:
                values.append(
                    schema.band_value(
                        band_index=band.band_index, header_of=band.header_of, **overrides
                    )
                )
            else:
                hd = header_dicts.get(href)
                if hd is None:
                    hd = header_dicts[href] = schema.header_to_dict(header)
                values.append(schema.band_value(band_index=band.band_index, header=hd, **overrides))
            ok.append(True)
        present[band.code] = ok
        columns[schema.band_column(band.code)] = pa.array(values, schema.BAND_TYPE)
    assets = pa.StructArray.from_arrays(
        [
            pa.StructArray.from_arrays(
                [
                    pa.array(b.hrefs[offset : offset + n], pa.string()),
                    pa.array([b.band_index] * n, pa.int32()),
                ],
                fields=list(schema.ASSET_TYPE),
            )
            for b in bands
        ],
        names=[b.code for b in bands],
    )
    geom = records.column(schema.GEOMETRY).combine_chunks()
    bbox = records.column(schema.BBOX).combine_chunks()
    if geom.null_count:
        filled = [
            g if g is not None else (normalize.footprint_wkb(h) if h is not None else None)
            for g, h in zip(geom.to_pylist(), row_header, strict=True)
        ]
        geom = pa.array(filled, pa.binary())
        derived = normalize.bbox_from_wkb(geom)
        bbox = pa.array(
            [
                b if b is not None else d
                for b, d in zip(bbox.to_pylist(), derived.to_pylist(), strict=True)
            ],
            schema.BBOX_TYPE,
        )
    crs_text = _crs_column(records, row_header)
    epsg = pa.array([schema.epsg_of(t) for t in crs_text], pa.int32())
    year, month = normalize.year_month(records.column(schema.DATETIME).combine_chunks())
    out = records.set_column(
        records.schema.get_field_index(schema.GEOMETRY), schema.GEOMETRY, geom
    ).set_column(records.schema.get_field_index(schema.BBOX), schema.BBOX, bbox)
    for name in (schema.CRS_COLUMN, schema.EPSG_COLUMN):
        if name in out.column_names:
            out = out.drop_columns([name])
    out = out.append_column(schema.ASSETS, assets)
    out = out.append_column(schema.EPSG_COLUMN, epsg)
    out = out.append_column(schema.CRS_COLUMN, pa.array(crs_text, pa.string()))
    for name, col in columns.items():
        out = out.append_column(name, col)
    out = out.append_column(schema.YEAR, year).append_column(schema.MONTH, month)
    return out, failures


def _crs_column(records: pa.Table, headers: Sequence[TiffHeader | None]) -> list[str | None]:
    """Row CRS: the source's ``proj:code``/``proj:epsg``/``crs`` when present, else the header's."""
    n = records.num_rows
    given: list[str | None] = [None] * n
    for name, fmt in (("proj:code", "{}"), (schema.EPSG_COLUMN, "EPSG:{}"), ("crs", "{}")):
        if name in records.column_names:
            vals = records.column(name).to_pylist()
            given = [
                g if g is not None else (fmt.format(v) if v not in (None, "") else None)
                for g, v in zip(given, vals, strict=True)
            ]
    out: list[str | None] = []
    for g, h in zip(given, headers, strict=True):
        if h is not None and h.crs is not None:
            out.append(schema.crs_to_text(h.crs))
        else:
            out.append(_normalise_crs_text(g))
    return out


def _normalise_crs_text(text: str | None) -> str | None:
    if not text:
        return None
    with contextlib.suppress(Exception):
        return schema.crs_to_text(schema.crs_from_text(str(text)))
    return None


def _overall_bbox(bbox: pa.ChunkedArray) -> list[float] | None:
    col = bbox.combine_chunks()
    if col.null_count == len(col):
        return None
    parts = [pc.min(col.field(k)).as_py() for k in ("xmin", "ymin")]
    parts += [pc.max(col.field(k)).as_py() for k in ("xmax", "ymax")]
    return parts
