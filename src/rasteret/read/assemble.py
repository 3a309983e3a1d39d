"""Assemble finished pieces into the outputs users asked for.

* NumPy: ``[N, H, W]`` for one band, ``[N, C, H, W]`` for several (N = record x AOI pairs in
  record order, AOI order inside), plus an opt-in index table naming every N. When every piece
  has one shape and dtype, the result is allocated before the fetch (:func:`allocate`) and the
  pieces decode straight into it, so no pixel is copied twice.
* xarray: one variable per band with ``time`` (and ``geometry`` for several AOIs) dims, pixel-
  centre ``x``/``y`` coords and a CF / rioxarray ``spatial_ref``; records sharing a time are
  combined with ``xr_combine``.
* GeoPandas: one row per record x AOI x band with the 2-D array and its transform.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyproj import CRS

from rasteret.errors import ConfigError, ReadError
from rasteret.read.aoi import Piece
from rasteret.read.geometry import GeometryInput, to_crs
from rasteret.read.grid import Grid
from rasteret.records import RecordRef

COMBINE_MODES = ("combine_first", "merge", "merge_override")
GDF_COLUMNS = (
    "record_id",
    "datetime",
    "cloud_cover",
    "collection",
    "geometry_id",
    "geometry",
    "band",
    "data",
    "transform",
    "crs",
)
XR_COORDS = ("time", "geometry", "y", "x", "spatial_ref", "record_id")
INDEX_COLUMNS = ("index", "record_id", "datetime", "collection", "geometry_id", "crs", "transform")


def piece_values(piece: Piece, *, scale_offset: bool) -> np.ndarray:
    """The piece's pixels; with ``scale_offset`` as floats with invalid pixels NaN."""
    assert piece.data is not None
    if not scale_offset:
        return piece.data
    ref = piece.band_ref
    dtype = (
        np.float64
        if piece.data.dtype.itemsize > 2 and piece.data.dtype != np.float32
        else np.float32
    )
    out = piece.data.astype(dtype)
    if ref.scale != 1.0:
        out *= dtype(ref.scale)
    if ref.offset != 0.0:
        out += dtype(ref.offset)
    if piece.invalid is not None:
        out[piece.invalid] = np.nan
    return out


def _fill_for(piece: Piece, scale_offset: bool) -> Any:
    return np.nan if scale_offset else piece.fill


def _grouped(pieces: Sequence[Piece]) -> dict[tuple[int, int], dict[str, Piece]]:
    groups: dict[tuple[int, int], dict[str, Piece]] = {}
    for p in sorted(pieces, key=lambda p: (p.record_index, p.geometry_index)):
        groups.setdefault((p.record_index, p.geometry_index), {})[p.band] = p
    return groups


# --- NumPy ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """The ``[N, C, H, W]`` result allocated before the fetch; ``groups[i]`` is the
    ``(record_index, geometry_index)`` of ``array[i]``."""

    array: np.ndarray
    groups: list[tuple[int, int]]


def allocate(pieces: Sequence[Piece], bands: Sequence[str], *, stack: bool) -> Stack | None:
    """Bind every piece to the array it fills: with ``stack``, and when all pieces share one
    shape and dtype, views into one stacked result (slots of absent bands get the fill value);
    otherwise an array of its own."""
    shapes = {p.grid.shape for p in pieces}
    dtypes = {p.dtype for p in pieces}
    if not (stack and pieces and len(shapes) == 1 and len(dtypes) == 1):
        for p in pieces:
            p.bind(np.empty(p.grid.shape, dtype=p.dtype))
        return None
    groups = _grouped(pieces)
    array = np.empty((len(groups), len(bands), *shapes.pop()), dtype=dtypes.pop())
    for i, by_band in enumerate(groups.values()):
        for j, band in enumerate(bands):
            piece = by_band.get(band)
            if piece is None:
                array[i, j] = next(iter(by_band.values())).fill
            else:
                piece.bind(array[i, j])
    return Stack(array, list(groups))


def to_numpy(
    pieces: Sequence[Piece],
    bands: Sequence[str],
    *,
    scale_offset: bool,
    return_index: bool,
    stack: Stack | None = None,
) -> np.ndarray | tuple[np.ndarray, pa.Table]:
    if stack is not None and pieces and not scale_offset:
        return _from_stack(pieces, bands, stack, return_index)
    groups = _grouped(pieces)
    shapes = {p.grid.shape for p in pieces}
    if len(shapes) > 1:
        raise ReadError(
            f"the read produced arrays of different shapes {sorted(shapes)} (records in "
            "different CRSs or resolutions, or AOIs of different sizes) so they cannot be stacked; "
            "pass target_crs= and resolution= to put every record on one grid per AOI, read AOIs "
            "of equal size, or use get_xarray()/get_gdf()"
        )
    if not groups:
        empty = np.zeros((0, 0, 0) if len(bands) == 1 else (0, len(bands), 0, 0))
        return (empty, _index_table([], [])) if return_index else empty
    (shape,) = shapes
    dtypes = [piece_values(p, scale_offset=scale_offset).dtype for p in pieces]
    dtype = np.result_type(*dtypes)
    n, c = len(groups), len(bands)
    out = np.empty((n, c, *shape), dtype=dtype)
    for i, (_, by_band) in enumerate(groups.items()):
        for j, band in enumerate(bands):
            piece = by_band.get(band)
            if piece is None:
                some = next(iter(by_band.values()))
                out[i, j] = _fill_for(some, scale_offset)
            else:
                out[i, j] = piece_values(piece, scale_offset=scale_offset)
    result = out[:, 0] if c == 1 else out
    if not return_index:
        return result
    firsts = [next(iter(by_band.values())) for by_band in groups.values()]
    return result, _index_table(firsts, list(range(n)))


def _from_stack(
    pieces: Sequence[Piece], bands: Sequence[str], stack: Stack, return_index: bool
) -> np.ndarray | tuple[np.ndarray, pa.Table]:
    """The pre-allocated result, without the groups of records that failed (a copy only then)."""
    groups = _grouped(pieces)
    if len(groups) == len(stack.groups):
        out = stack.array
    else:
        out = stack.array[[i for i, g in enumerate(stack.groups) if g in groups]]
    result = out[:, 0] if len(bands) == 1 else out
    if not return_index:
        return result
    firsts = [next(iter(by_band.values())) for by_band in groups.values()]
    return result, _index_table(firsts, list(range(len(groups))))


def _index_table(firsts: Sequence[Piece], index: Sequence[int]) -> pa.Table:
    return pa.table(
        {
            "index": pa.array(index, pa.int64()),
            "record_id": pa.array([p.record.record_id for p in firsts], pa.string()),
            "datetime": pa.array([_naive(p.record.datetime) for p in firsts], pa.timestamp("us")),
            "collection": pa.array([p.record.collection for p in firsts], pa.string()),
            "geometry_id": pa.array([p.geometry_index + 1 for p in firsts], pa.int64()),
            "crs": pa.array([_crs_text(p.grid.crs) for p in firsts], pa.string()),
            "transform": pa.array(
                [list(p.grid.transform)[:6] for p in firsts], pa.list_(pa.float64(), 6)
            ),
        }
    )


def with_attributes(table: pa.Table, aoi: GeometryInput) -> pa.Table:
    """Join the AOI input's extra columns onto an index table by ``geometry_id``."""
    if aoi.attributes is None or table.num_rows == 0:
        return table
    take = pa.array(np.asarray(table.column("geometry_id")) - 1, pa.int64())
    extra = aoi.attributes.take(take)
    for name, column in zip(extra.column_names, extra.columns, strict=True):
        table = table.append_column(name, column)
    return table


# --- xarray ---------------------------------------------------------------------------------


def to_xarray(
    pieces: Sequence[Piece],
    bands: Sequence[str],
    aoi: GeometryInput,
    *,
    combine: str,
    scale_offset: bool,
) -> Any:
    import xarray as xr

    if combine not in COMBINE_MODES:
        raise ConfigError(f"xr_combine={combine!r} is not known; use one of {list(COMBINE_MODES)}")
    clash = sorted(set(bands) & set(XR_COORDS))
    if clash:
        raise ConfigError(
            f"band name(s) {clash} would shadow xarray coordinates {list(XR_COORDS)}; "
            "use get_numpy()/get_gdf() for them"
        )
    if not pieces:
        return xr.Dataset()
    crs_set = {_crs_text(p.grid.crs) for p in pieces}
    if len(crs_set) > 1:
        raise ReadError(
            f"pieces are in several CRSs {sorted(crs_set)}; pass target_crs= to read onto one grid"
        )
    union = _union_grid([p.grid for p in pieces])
    if union is None:
        raise ReadError(
            "the records' pixel grids do not line up (different pixel sizes or sub-pixel offsets); "
            "pass target_crs= and resolution= to read every record onto one snapped grid"
        )
    several = len(aoi) > 1
    times = sorted({_time_key(p.record) for p in pieces})
    t_index = {t: i for i, t in enumerate(times)}
    geom_ids = sorted({p.geometry_index for p in pieces})
    g_index = {g: i for i, g in enumerate(geom_ids)}
    grid = union
    xs, ys = grid.coords()
    variables = {}
    for band in bands:
        band_pieces = [p for p in pieces if p.band == band]
        if not band_pieces:
            continue
        sample = band_pieces[0]
        dtype = np.result_type(
            *[piece_values(p, scale_offset=scale_offset).dtype for p in band_pieces]
        )
        fill = _fill_for(sample, scale_offset)
        shape = (len(times), len(geom_ids), grid.height, grid.width)
        data = np.full(shape, fill, dtype=dtype)
        valid = np.zeros(shape, dtype=bool)
        covered = np.zeros(shape, dtype=bool) if combine == "merge_override" else None
        order = sorted(band_pieces, key=lambda p: (p.record_index, p.geometry_index))
        for p in order:
            ti, gi = t_index[_time_key(p.record)], g_index[p.geometry_index]
            rows, cols = _placement(grid, p.grid)
            values = piece_values(p, scale_offset=scale_offset)
            ok = ~p.invalid if p.invalid is not None else np.ones(values.shape, dtype=bool)
            dst, have = data[ti, gi, rows, cols], valid[ti, gi, rows, cols]
            if combine == "merge":
                clash = have & ok & (dst != values)
                if clash.any():
                    raise ReadError(
                        f"xr_combine='merge': records sharing time {times[ti]} disagree on "
                        f"{int(clash.sum())} pixel(s) of band {band!r}; use 'combine_first' or "
                        "'merge_override'"
                    )
            if covered is not None:
                take = ~covered[ti, gi, rows, cols]
                covered[ti, gi, rows, cols] = True
            else:
                take = ok & ~have
            dst[take] = values[take]
            have |= ok & take
        if not several:
            data = data[:, 0]
        dims = ("time", "geometry", "y", "x") if several else ("time", "y", "x")
        attrs: dict[str, Any] = {}
        nodata = sample.band_ref.nodata
        if scale_offset or nodata is not None:
            attrs["_FillValue"] = fill
        var = xr.Variable(dims, data, attrs=attrs)
        var.encoding["grid_mapping"] = "spatial_ref"
        variables[band] = var
    coords: dict[str, Any] = {
        "time": ("time", np.array([_np_time(t) for t in times], dtype="datetime64[ns]")),
        "y": ("y", ys),
        "x": ("x", xs),
        "spatial_ref": ((), np.int32(0), spatial_ref_attrs(grid)),
    }
    ids = {t: [] for t in times}
    for p in sorted(pieces, key=lambda p: p.record_index):
        rid = p.record.record_id
        if rid not in ids[_time_key(p.record)]:
            ids[_time_key(p.record)].append(rid)
    coords["record_id"] = ("time", np.array([",".join(ids[t]) for t in times], dtype=object))
    if several:
        coords["geometry"] = ("geometry", np.array([g + 1 for g in geom_ids], dtype=np.int64))
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs["crs"] = _crs_text(grid.crs)
    return ds


def spatial_ref_attrs(grid: Grid) -> dict[str, Any]:
    """CF grid-mapping attributes that rioxarray and GDAL understand."""
    attrs: dict[str, Any] = {}
    if grid.crs is not None:
        try:
            attrs.update(grid.crs.to_cf())
        except Exception:  # noqa: BLE001 - some CRSs have no CF form; WKT still works
            pass
        wkt = grid.crs.to_wkt()
        attrs["crs_wkt"] = wkt
        attrs["spatial_ref"] = wkt
    t = grid.transform
    attrs["GeoTransform"] = " ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
    return attrs


def _union_grid(grids: Sequence[Grid]) -> Grid | None:
    ref = grids[0]
    t0 = ref.transform
    c_min = r_min = math.inf
    c_max = r_max = -math.inf
    for g in grids:
        t = g.transform
        if not (math.isclose(t.a, t0.a, rel_tol=1e-9) and math.isclose(t.e, t0.e, rel_tol=1e-9)):
            return None
        col = (t.c - t0.c) / t0.a
        row = (t.f - t0.f) / t0.e
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            return None
        col, row = round(col), round(row)
        c_min, r_min = min(c_min, col), min(r_min, row)
        c_max, r_max = max(c_max, col + g.width), max(r_max, row + g.height)
    from affine import Affine

    transform = t0 @ Affine.translation(c_min, r_min)
    return Grid(ref.crs, transform, int(c_max - c_min), int(r_max - r_min))


def _placement(union: Grid, grid: Grid) -> tuple[slice, slice]:
    t0, t = union.transform, grid.transform
    col = round((t.c - t0.c) / t0.a)
    row = round((t.f - t0.f) / t0.e)
    return slice(row, row + grid.height), slice(col, col + grid.width)


# --- GeoPandas ------------------------------------------------------------------------------


def to_gdf(
    pieces: Sequence[Piece],
    aoi: GeometryInput,
    *,
    out_crs: CRS,
    scale_offset: bool,
) -> Any:
    import geopandas as gpd

    ordered = sorted(pieces, key=lambda p: (p.record_index, p.geometry_index))
    geoms = {}
    rows: dict[str, list[Any]] = {c: [] for c in GDF_COLUMNS}
    for p in ordered:
        gi = p.geometry_index
        if gi not in geoms:
            geoms[gi] = to_crs(aoi.geometries[gi], aoi.crs, out_crs)
        rows["record_id"].append(p.record.record_id)
        rows["datetime"].append(_naive(p.record.datetime))
        rows["cloud_cover"].append(p.record.properties.get("eo:cloud_cover"))
        rows["collection"].append(p.record.collection)
        rows["geometry_id"].append(gi + 1)
        rows["geometry"].append(geoms[gi])
        rows["band"].append(p.band)
        rows["data"].append(piece_values(p, scale_offset=scale_offset))
        rows["transform"].append(p.grid.transform)
        rows["crs"].append(_crs_text(p.grid.crs))
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=out_crs)
    if aoi.attributes is not None and len(gdf):
        attrs = aoi.attributes.to_pandas()
        attrs.index = np.arange(1, len(attrs) + 1)
        for name in attrs.columns:
            gdf[name] = attrs[name].reindex(gdf["geometry_id"]).to_numpy()
    return gdf


# --- helpers --------------------------------------------------------------------------------


def _crs_text(crs: CRS | None) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _time_key(record: RecordRef) -> dt.datetime:
    t = _naive(record.datetime)
    return t if t is not None else dt.datetime.min


def _np_time(t: dt.datetime) -> np.datetime64:
    return np.datetime64("NaT") if t == dt.datetime.min else np.datetime64(t, "ns")
