"""Point sampling with ``rasterio.sample`` semantics, fetching only the blocks under points.

A point's pixel is ``rasterio.transform.rowcol`` of its coordinates (floor, so a point on a pixel
edge belongs to the pixel to its right/below, as in rasterio). Points outside a raster give no
row for it. Pixels under an internal mask come back as nodata (NaN when the band has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from rasterio.transform import rowcol

from rasteret.read.geometry import PointInput, transform_xy
from rasteret.read.plan import Plan, Source
from rasteret.read.window import fill_value, nodata_pixels
from rasteret.records import RecordRef

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
    projected: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for ri, record in enumerate(records):
        for band in bands:
            ref = record.bands.get(band)
            if ref is None or ref.header.crs is None:
                continue
            header = ref.header
            key = header.crs.to_wkt()
            if key not in projected:
                projected[key] = transform_xy(points.x, points.y, points.crs, header.crs)
            xs, ys = projected[key]
            rows, cols = rowcol(header.transform, xs, ys)
            rows = np.asarray(rows, dtype=np.int64)
            cols = np.asarray(cols, dtype=np.int64)
            inside = (rows >= 0) & (rows < header.height) & (cols >= 0) & (cols < header.width)
            idx = np.flatnonzero(inside)
            if not len(idx):
                continue
            out.covered[idx] = True
            dtype = np.dtype(header.images[0].dtype)
            values = np.full(len(idx), fill_value(dtype, ref.nodata), dtype=dtype)
            src = Source(ref.url, header.images[0], ref.band_index, header.etag)
            out.plan.add_points(src, rows[idx], cols[idx], values, owner=ri)
            mask = None
            if header.masks and header.masks[0] is not None:
                mask = np.zeros(len(idx), dtype=bool)
                msrc = Source(ref.url, header.masks[0], 0, header.etag)
                out.plan.add_points(msrc, rows[idx], cols[idx], mask, owner=ri, mask=True)
            out.samples.append(
                Sample(
                    ri,
                    band,
                    idx,
                    values,
                    mask,
                    ref.nodata,
                    ref.scale,
                    ref.offset,
                    header.crs.to_epsg(),
                )
            )
    return out


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
    epsg = points.crs.to_epsg()
    rec_ids = [records[i].record_id for i in record.tolist()]
    times = [records[i].datetime for i in record.tolist()]
    colls = [records[i].collection for i in record.tolist()]
    table = pa.table(
        {
            "point_index": pa.array(point, pa.int64()),
            "point_x": pa.array(points.x[point], pa.float64()),
            "point_y": pa.array(points.y[point], pa.float64()),
            "point_crs": pa.array([epsg] * len(point), pa.int32()),
            "record_id": pa.array(rec_ids, pa.string()),
            "datetime": pa.array([_naive(t) for t in times], pa.timestamp("us")),
            "collection": pa.array(colls, pa.string()),
            "band": pa.array([band_order[i] for i in band.tolist()], pa.string()),
            "value": pa.array(value, pa.float64()),
            "raster_crs": pa.array([None if c < 0 else int(c) for c in rcrs], pa.int32()),
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


def _naive(value):  # noqa: ANN001, ANN202 - datetime or None
    if value is None or value.tzinfo is None:
        return value
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None)


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
