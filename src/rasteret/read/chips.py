"""Chip reads onto a fixed grid: ``Collection.read_window`` (the reference 0.4.1's sampler API).

A chip is ``bounds`` + ``res`` in ``target_crs`` (rasterio.merge's grid: origin at the top-left
corner, ``round(extent / res)`` pixels). Every record of ``record_ids`` is placed on it in one
plan and one engine fetch: records whose full-resolution pixels are the chip's pixels (same CRS,
pixel size and whole-pixel offset, TorchGeo's usual case) are decoded straight into the output;
others are warped (``rasterio.warp.reproject``, nearest for integers, bilinear for floats, from
the overview GDAL would pick). Pixels no record covers get the band's nodata (0 without one).

``group_by``: ``None`` mosaics all records into ``[C, H, W]`` (the first id's valid pixels
win); ``"datetime"`` mosaics the records of each acquisition time into ``[T, C, H, W]`` (times
ascending); ``"id"`` gives one timestep per record, in ``record_ids`` order (TorchGeo's
``time_series=True``). A record that cannot be read is left out of a mosaic with a warning; a
time series raises instead (a missing timestep would silently change T).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from affine import Affine
from pyproj import CRS

from rasteret.errors import CollectionError, ReadArgumentError, ReadError
from rasteret.read import api
from rasteret.read.aoi import AoiOptions, Piece, plan_aoi
from rasteret.read.execute import run_plan
from rasteret.read.geometry import normalize_geometries, parse_crs
from rasteret.read.grid import Grid
from rasteret.read.window import fill_value
from rasteret.records import RecordRef

GROUP_BY = (None, "datetime", "id")
MEMO_ENTRIES = 64  # record sets remembered per collection (a sampler asks for the same ones)


async def aread_window(
    collection: Any,
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
    """Pixels of ``bands`` of the records ``record_ids`` on the grid ``bounds`` / ``res``.

    target_crs: CRS of ``bounds`` and of the output (EPSG code or any CRS input); default the
    CRS of the first record found. Returns ``[C, H, W]`` (``group_by=None``) or ``[T, C, H, W]``
    (``"datetime"``, ``"id"``). max_concurrent / backend: requests in flight and the store to
    read with (default: the collection's).
    """
    if group_by not in GROUP_BY:
        raise ReadArgumentError(f"group_by={group_by!r} is not known; use one of {GROUP_BY}")
    ids = _ids(record_ids)
    box = _bounds(bounds)
    resolution = _res(res)
    band_list = api._band_list(bands)
    records, band_list = _records(collection, ids, band_list)
    crs = (
        parse_crs(target_crs, "target_crs")
        if target_crs is not None
        else _first_crs(records, band_list)
    )
    grid = chip_grid(box, resolution, crs)
    aoi = normalize_geometries(grid.bounds, geometry_crs=crs)
    aplan = plan_aoi(records, band_list, aoi, AoiOptions(grid=grid))
    groups = _groups(records, group_by)
    slots = _Slots(records, band_list, grid, groups, aplan.pieces)
    settings = api._settings(collection, max_concurrent, False, None, None, backend, None)
    result = await run_plan(aplan.plan, settings)
    failed = {**aplan.failures, **{_index(k): v for k, v in result.failures.items()}}
    if failed:
        _report(failed, records, time_series=group_by is not None)
    pieces = [p for p in aplan.pieces if p.record_index not in failed]
    await api._finish(pieces)
    slots.mosaic(pieces)
    return slots.out if group_by is not None else slots.out[0]


read_window = api._sync(aread_window, "read_window")


def chip_grid(
    bounds: tuple[float, float, float, float], res: tuple[float, float], crs: CRS
) -> Grid:
    """rasterio.merge's output grid for ``bounds`` and ``res`` (top-left origin, rounded size)."""
    left, bottom, right, top = bounds
    width = int(round((right - left) / res[0]))
    height = int(round((top - bottom) / res[1]))
    if width < 1 or height < 1:
        raise ReadArgumentError(
            f"bounds {bounds} hold no whole pixel at res {res}: the chip would be "
            f"{width} x {height} pixels"
        )
    return Grid(crs, Affine(res[0], 0.0, left, 0.0, -res[1], top), width, height)


class _Slots:
    """The output ``[T, C, H, W]`` and which record fills which timestep.

    A timestep of one record gets its pieces decoded straight into the output; the records of
    a mosaic decode into arrays of their own and are merged after the fetch."""

    def __init__(
        self,
        records: Sequence[RecordRef],
        bands: Sequence[str],
        grid: Grid,
        groups: list[list[int]],
        pieces: Sequence[Piece],
    ) -> None:
        self.groups = groups
        self.bands = list(bands)
        dtypes = [p.dtype for p in pieces] or _dtypes(records, bands)
        self.out = np.empty((len(groups), len(bands), *grid.shape), dtype=np.result_type(*dtypes))
        self.in_place: set[tuple[int, int]] = set()
        by_key = {(p.record_index, p.band): p for p in pieces}
        for t, members in enumerate(groups):
            for c, band in enumerate(bands):
                piece = by_key.get((members[0], band)) if len(members) == 1 else None
                if piece is not None and piece.dtype == self.out.dtype:
                    piece.bind(self.out[t, c])
                    self.in_place.add((t, c))
                    continue
                self.out[t, c] = _fill(records, band, self.out.dtype)
                for ri in members:
                    other = by_key.get((ri, band))
                    if other is not None:
                        other.bind(np.empty(other.grid.shape, dtype=other.dtype))

    def mosaic(self, pieces: Sequence[Piece]) -> None:
        """Merge the pieces not decoded in place, in priority order: first valid pixel wins."""
        by_key = {(p.record_index, p.band): p for p in pieces}
        for t, members in enumerate(self.groups):
            for c, band in enumerate(self.bands):
                if (t, c) in self.in_place:
                    continue
                slot = self.out[t, c]
                filled: np.ndarray | None = None
                for ri in members:
                    piece = by_key.get((ri, band))
                    if piece is None or piece.data is None:
                        continue
                    valid = _valid(piece)
                    take = valid if filled is None else valid & ~filled
                    np.copyto(slot, piece.data, where=take, casting="unsafe")
                    filled = take if filled is None else filled | take


def _valid(piece: Piece) -> np.ndarray:
    invalid = piece.invalid
    return np.ones(piece.grid.shape, dtype=bool) if invalid is None else ~invalid


def _ids(record_ids: Any) -> list[str]:
    if isinstance(record_ids, pa.ChunkedArray | pa.Array):
        values = record_ids.to_pylist()
    elif isinstance(record_ids, str):
        values = [record_ids]
    else:
        try:
            values = list(record_ids)
        except TypeError:
            raise ReadArgumentError(
                f"record_ids must be a sequence of ids or an Arrow array, got "
                f"{type(record_ids).__name__}"
            ) from None
    ids = [str(v) for v in values if v is not None]
    if not ids:
        raise ReadArgumentError("record_ids is empty: pass the ids of the records to read")
    return list(dict.fromkeys(ids))


def _bounds(bounds: Any) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ReadArgumentError(
            f"bounds must be (xmin, ymin, xmax, ymax) numbers, got {bounds!r}"
        ) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ReadArgumentError(
            f"bounds must be 4 finite numbers (xmin, ymin, xmax, ymax), got {bounds!r}"
        )
    if values[0] >= values[2] or values[1] >= values[3]:
        raise ReadArgumentError(f"bounds {bounds!r} are empty: need xmin < xmax and ymin < ymax")
    return values  # type: ignore[return-value]


def _res(res: Any) -> tuple[float, float]:
    try:
        values = (
            (float(res), float(res)) if isinstance(res, int | float) else tuple(map(float, res))
        )
    except (TypeError, ValueError):
        raise ReadArgumentError(f"res must be (x_res, y_res) numbers, got {res!r}") from None
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ReadArgumentError(f"res must be two positive pixel sizes (x_res, y_res), got {res!r}")
    return values  # type: ignore[return-value]


class _RecordMemo:
    """The records of recent ``(record_ids, bands)`` requests per collection object.

    A sampler calls ``read_window`` once per chip with the same few record sets; selecting and
    rebuilding them is most of a cached chip's planning. Collections are immutable views, so
    the records stay valid for as long as the collection object lives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_collection: weakref.WeakKeyDictionary[Any, OrderedDict[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, collection: Any, key: Hashable) -> Any:
        with self._lock:
            try:
                entries = self._by_collection.get(collection)
            except TypeError:  # not weak-referenceable or not hashable: never remembered
                return None
            if entries is None or key not in entries:
                return None
            entries.move_to_end(key)
            return entries[key]

    def put(self, collection: Any, key: Hashable, value: Any) -> None:
        with self._lock:
            try:
                entries = self._by_collection.setdefault(collection, OrderedDict())
            except TypeError:
                return
            entries[key] = value
            while len(entries) > MEMO_ENTRIES:
                entries.popitem(last=False)


_memo = _RecordMemo()


def _records(
    collection: Any, ids: list[str], bands: list[str]
) -> tuple[list[RecordRef], list[str]]:
    """The records of ``ids`` in that order (the mosaic priority)."""
    key = (tuple(ids), tuple(bands))
    found = None if api._is_record_list(collection) else _memo.get(collection, key)
    if found is None:
        found = _select(collection, ids, bands)
        if not api._is_record_list(collection):
            _memo.put(collection, key, found)
    records, resolved, missing = found
    if missing:
        api._note(f"{len(missing)} of the record_ids are not in the collection: {_shown(missing)}")
    return list(records), list(resolved)


def _select(
    collection: Any, ids: list[str], bands: list[str]
) -> tuple[tuple[RecordRef, ...], tuple[str, ...], list[str]]:
    """Records of ``ids`` in that order, the resolved band names, and the ids not found."""
    if api._is_record_list(collection):
        chosen: Any = [r for r in collection if r.record_id in set(ids)]
    elif hasattr(collection, "where"):
        chosen = collection.where(pc.field("id").isin(ids))
    else:
        raise CollectionError(
            f"cannot read from a {type(collection).__name__}: pass a rasteret Collection or a "
            "list of RecordRef"
        )
    found, bands = api._select_records(chosen, bands, None, {})
    by_id: dict[str, RecordRef] = {}
    for record in found:
        by_id.setdefault(record.record_id, record)
    missing = [i for i in ids if i not in by_id]
    if len(missing) == len(ids):
        raise ReadArgumentError(
            f"no record of the collection has an id in record_ids ({_shown(ids)})"
        )
    return tuple(by_id[i] for i in ids if i in by_id), tuple(bands), missing


def _first_crs(records: Sequence[RecordRef], bands: Sequence[str]) -> CRS:
    for record in records:
        for band in bands:
            ref = record.bands.get(band)
            if ref is not None and ref.header.crs is not None:
                return ref.header.crs
    raise ReadArgumentError("none of the records has a CRS: pass target_crs=")


def _groups(records: Sequence[RecordRef], group_by: str | None) -> list[list[int]]:
    if group_by == "id":
        return [[i] for i in range(len(records))]
    if group_by is None:
        return [list(range(len(records)))]
    by_time: dict[Hashable, list[int]] = {}
    for i, record in enumerate(records):
        by_time.setdefault(record.datetime, []).append(i)
    return [by_time[t] for t in sorted(by_time, key=lambda t: (t is None, t or 0))]


def _dtypes(records: Sequence[RecordRef], bands: Sequence[str]) -> list[np.dtype]:
    found = [r.bands[b].header.dtype for r in records for b in bands if b in r.bands]
    return found or [np.dtype("uint8")]


def _fill(records: Sequence[RecordRef], band: str, dtype: np.dtype) -> float | int:
    """The band's nodata (first record that has the band), else 0."""
    for record in records:
        ref = record.bands.get(band)
        if ref is not None:
            return fill_value(dtype, ref.nodata)
    return 0


def _index(owner: Hashable) -> int:
    return int(owner)  # type: ignore[call-overload]


def _report(
    failed: dict[int, BaseException], records: Sequence[RecordRef], *, time_series: bool
) -> None:
    items = sorted(failed.items())
    shown = "; ".join(f"{records[i].record_id!r}: {exc}" for i, exc in items[:5])
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    message = f"{len(items)} record(s) could not be read: {shown}{more}"
    if time_series:
        raise ReadError(message + "; a time series needs every timestep") from items[0][1]
    if len(items) == len(records):
        raise ReadError(message) from items[0][1]
    api._note(message + "; they are left out of the mosaic")


def _shown(ids: Sequence[str]) -> str:
    return ", ".join(repr(i) for i in ids[:5]) + (
        f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    )
