"""Turn a chunk of records plus parsed headers into collection rows (the normalisation step).

Band structs are attached per row, footprints and CRS columns are filled from the headers
where the source had none, and partition columns are derived from the dates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.errors import BuildError
from rasteret.ingest import normalize, schema
from rasteret.ingest.headers import HeaderPass
from rasteret.ingest.plan import BandSource
from rasteret.ingest.report import AssetFailure
from rasteret.io.urls import is_signed_url, unsign_url
from rasteret.tiff.model import TiffHeader


def prepare_records(records: pa.Table) -> pa.Table:
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
    columns = {
        schema.ID: without_signatures(ids),
        schema.DATETIME: times,
        schema.GEOMETRY: geom,
        schema.BBOX: bbox,
    }
    columns.update({c: without_signatures(records.column(c)) for c in rest})
    return pa.table(columns)


_SIGNED = r"[?&](sig|x-amz-signature|x-goog-signature)="


def without_signatures(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A string column with the signature parameters of signed URLs removed (a collection never
    stores tokens: they expire, and reads sign again); other columns unchanged."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    if not pc.any(pc.match_substring_regex(column, _SIGNED, ignore_case=True)).as_py():
        return column
    values = [v if v is None or not is_signed_url(v) else unsign_url(v) for v in column.to_pylist()]
    return pa.array(values, column.type)


def output_schema(records: pa.Table, bands: Sequence[BandSource]) -> pa.Schema:
    fields = [records.schema.field(c) for c in records.column_names]
    fields = [f for f in fields if f.name not in (schema.CRS_COLUMN, schema.EPSG_COLUMN)]
    fields.append(pa.field(schema.ASSETS, pa.struct([(b.code, schema.ASSET_TYPE) for b in bands])))
    fields.append(pa.field(schema.EPSG_COLUMN, pa.int32()))
    fields.append(pa.field(schema.CRS_COLUMN, pa.string()))
    fields.extend(pa.field(schema.band_column(b.code), schema.BAND_TYPE) for b in bands)
    fields.append(pa.field(schema.YEAR, pa.int32()))
    fields.append(pa.field(schema.MONTH, pa.int32()))
    return pa.schema(fields)


def assemble_chunk(
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


def overall_bbox(bbox: pa.ChunkedArray) -> list[float] | None:
    col = bbox.combine_chunks()
    if col.null_count == len(col):
        return None
    parts = [pc.min(col.field(k)).as_py() for k in ("xmin", "ymin")]
    parts += [pc.max(col.field(k)).as_py() for k in ("xmax", "ymax")]
    return parts
