"""Point sampling with ``rasterio.sample`` semantics, fetching only the blocks under points.

A point's pixel is ``rasterio.transform.rowcol`` of its coordinates (floor, so a point on a pixel
edge belongs to the pixel to its right/below, as in rasterio). Points outside a raster give no
row for it. Pixels under an internal mask come back as nodata (NaN when the band has none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from rasterio.transform import rowcol

from rasteret.read.geometry import PointInput, transform_xy
from rasteret.read.plan import Plan, Source
from rasteret.read.window import fill_value, nodata_pixels
from rasteret.records import RecordRef
from rasteret.tiff.model import TiffHeader

POINT_SAMPLES_SCHEMA = pa.schema(
    [
        pa.field("point_index", pa.int64(), nullable=False),
        pa.field("point_x", pa.float64(), nullable=False),
        pa.field("point_y", pa.float64(), nullable=False),
        pa.field("point_crs", pa.int32()),
        pa.field("record_id", pa.string()),
        pa.field("datetime", pa.timestamp("us")),
        pa.field("collection", pa.string()),
        pa.field("band", pa.string()),
        pa.field("value", pa.float64()),
        pa.field("raster_crs", pa.int32()),
    ]
)


@dataclass(eq=False)
class Sample:
    """Values of one band of one record at the points inside it."""

    record_index: int
    band: str
    points: np.ndarray  # indices into the point input
    values: np.ndarray  # native dtype, filled by the fetch
    mask: np.ndarray | None  # internal mask validity (True = valid), or None
    nodata: float | None
    scale: float
    offset: float
    raster_crs: int | None

    def as_float(self, *, scale_offset: bool) -> tuple[np.ndarray, np.ndarray]:
        """(float64 values, valid flags); masked pixels become nodata (or NaN)."""
        out = self.values.astype(np.float64)
        invalid = np.zeros(len(out), dtype=bool)
        nod = nodata_pixels(self.values, self.nodata)
        if nod is not None:
            invalid |= nod
        if self.mask is not None:
            masked = ~self.mask
            out[masked] = np.nan if self.nodata is None else self.nodata
            invalid |= masked
        if self.values.dtype.kind == "f":
            invalid |= np.isnan(self.values)
        if scale_offset:
            out = out * self.scale + self.offset
            out[invalid] = np.nan
        return out, ~invalid


@dataclass
class PointPlan:
    samples: list[Sample] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    covered: np.ndarray | None = None  # per point: inside at least one raster


def plan_points(
    records: Sequence[RecordRef], bands: Sequence[str], points: PointInput
) -> PointPlan:
    """One sample per (record, band) holding the points inside that band's raster."""
    out = PointPlan(covered=np.zeros(len(points), dtype=bool))
    pixels = _PixelFinder(points)
    for ri, record in enumerate(records):
        for band in bands:
            ref = record.bands.get(band)
            if ref is None or ref.header.crs is None:
                continue
            header = ref.header
            idx, rows, cols, epsg = pixels.inside(header)
            if not len(idx):
                continue
            out.covered[idx] = True
            dtype = np.dtype(header.images[0].dtype)
            values = np.full(len(idx), fill_value(dtype, ref.nodata), dtype=dtype)
            src = Source(ref.url, header.images[0], ref.band_index, header.etag)
            out.plan.add_points(src, rows, cols, values, owner=ri)
            mask = None
            if header.masks and header.masks[0] is not None:
                mask = np.zeros(len(idx), dtype=bool)
                msrc = Source(ref.url, header.masks[0], 0, header.etag)
                out.plan.add_points(msrc, rows, cols, mask, owner=ri, mask=True)
            out.samples.append(
                Sample(ri, band, idx, values, mask, ref.nodata, ref.scale, ref.offset, epsg)
            )
    return out


class _PixelFinder:
    """The pixels of the points in a raster grid, computed once per grid (the records of one
    tile share it across dates) and the points projected once per CRS."""

    def __init__(self, points: PointInput) -> None:
        self._points = points
        self._projected: dict[str, tuple[np.ndarray, np.ndarray, int | None]] = {}
        self._grids: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray, Any]] = {}

    def inside(self, header: TiffHeader) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        """(point indices inside the raster, their rows, their cols, the raster's EPSG code)."""
        crs = header.crs
        assert crs is not None
        crs_key = crs.srs or crs.to_wkt()
        key = (crs_key, tuple(header.transform)[:6], header.width, header.height)
        found = self._grids.get(key)
        if found is not None:
            return found
        if crs_key not in self._projected:
            p = self._points
            self._projected[crs_key] = (*transform_xy(p.x, p.y, p.crs, crs), crs.to_epsg())
        xs, ys, epsg = self._projected[crs_key]
        rows, cols = rowcol(header.transform, xs, ys)
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        inside = (rows >= 0) & (rows < header.height) & (cols >= 0) & (cols < header.width)
        idx = np.flatnonzero(inside)
        found = (idx, rows[idx], cols[idx], epsg)
        self._grids[key] = found
        return found


def samples_table(
    samples: Sequence[Sample],
    records: Sequence[RecordRef],
    points: PointInput,
    *,
    match: str,
    scale_offset: bool,
    band_order: Sequence[str],
) -> pa.Table:
    """The ``POINT_SAMPLES_SCHEMA`` table (+ the input's columns), one row per point x record x
    band; with ``match="latest"`` only the newest record with a valid value per point and band
    (the newest record at all when none is valid)."""
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("point", "record", "band", "value", "valid", "crs")
    }
    band_rank = {b: i for i, b in enumerate(band_order)}
    for s in samples:
        values, valid = s.as_float(scale_offset=scale_offset)
        n = len(s.points)
        cols["point"].append(s.points)
        cols["record"].append(np.full(n, s.record_index))
        cols["band"].append(np.full(n, band_rank[s.band]))
        cols["value"].append(values)
        cols["valid"].append(valid)
        cols["crs"].append(np.full(n, -1 if s.raster_crs is None else s.raster_crs))
    if not samples:
        return _empty_table(points)
    point = np.concatenate(cols["point"])
    record = np.concatenate(cols["record"])
    band = np.concatenate(cols["band"])
    value = np.concatenate(cols["value"])
    valid = np.concatenate(cols["valid"])
    rcrs = np.concatenate(cols["crs"])
    if match == "latest":
        keep = _latest(point, record, band, valid, records)
        point, record, band, value, rcrs = (a[keep] for a in (point, record, band, value, rcrs))
    order = np.lexsort((band, record, point))
    point, record, band, value, rcrs = (a[order] for a in (point, record, band, value, rcrs))
    # per-record and per-band values are built once and gathered by index, not per row
    take = pa.array(record, pa.int64())
    epsg = points.crs.to_epsg()
    table = pa.table(
        {
            "point_index": pa.array(point, pa.int64()),
            "point_x": pa.array(points.x[point], pa.float64()),
            "point_y": pa.array(points.y[point], pa.float64()),
            "point_crs": pa.nulls(len(point), pa.int32())
            if epsg is None
            else pa.array(np.full(len(point), epsg, dtype=np.int32)),
            "record_id": pa.array([r.record_id for r in records], pa.string()).take(take),
            "datetime": pa.array([_naive(r.datetime) for r in records], pa.timestamp("us")).take(
                take
            ),
            "collection": pa.array([r.collection for r in records], pa.string()).take(take),
            "band": pa.array(list(band_order), pa.string()).take(pa.array(band, pa.int64())),
            "value": pa.array(value, pa.float64()),
            "raster_crs": pa.array(rcrs.astype(np.int32), pa.int32(), mask=rcrs < 0),
        },
        schema=POINT_SAMPLES_SCHEMA,
    )
    return _with_attributes(table, points, point)


def _latest(
    point: np.ndarray,
    record: np.ndarray,
    band: np.ndarray,
    valid: np.ndarray,
    records: Sequence[RecordRef],
) -> np.ndarray:
    """Indices of the newest valid (else newest) row per (point, band)."""
    stamps = np.array(
        [r.datetime.timestamp() if r.datetime is not None else -np.inf for r in records]
    )[record]
    # Sort so that, per (point, band), the preferred row comes first: valid, newest, first record.
    order = np.lexsort((record, -stamps, ~valid, band, point))
    p, b = point[order], band[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (p[1:] != p[:-1]) | (b[1:] != b[:-1])
    return np.sort(order[first])


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    """UTC wall time without tzinfo (the schema's naive timestamp)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _with_attributes(table: pa.Table, points: PointInput, point_index: np.ndarray) -> pa.Table:
    if points.attributes is None:
        return table
    extra = points.attributes.take(pa.array(point_index, pa.int64()))
    for name, column in zip(extra.column_names, extra.columns, strict=True):
        table = table.append_column(name, column)
    return table


def _empty_table(points: PointInput) -> pa.Table:
    table = POINT_SAMPLES_SCHEMA.empty_table()
    return _with_attributes(table, points, np.zeros(0, dtype=np.int64))
