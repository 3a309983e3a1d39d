"""Public read functions: get_numpy, get_xarray, get_gdf, sample_points (and async variants).

Each takes a Collection (or a list of RecordRefs) first; the Collection methods of the same names
delegate here. A call normalises its inputs, selects records, plans every block, runs one engine
fetch, finishes the pieces in a thread pool and assembles the output. The sync functions run on
rasteret's background I/O loop, so they also work inside Jupyter; await the ``a*`` variants from
async code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyproj import CRS

from rasteret.catalog.registry import DatasetRegistry
from rasteret.errors import (
    BandNotFoundError,
    CollectionError,
    ConfigError,
    GeometryError,
    ReadError,
)
from rasteret.io.backend import Backend, default_backend
from rasteret.io.config import CloudConfig
from rasteret.io.descriptor import backend_for_descriptor
from rasteret.io.loop import run_sync
from rasteret.read import assemble
from rasteret.read.aoi import AoiOptions, Piece, plan_aoi
from rasteret.read.execute import FetchSettings, RunResult, run_plan
from rasteret.read.geometry import (
    DEFAULT_CRS,
    GeometryInput,
    bounds_to_crs,
    check_reserved,
    normalize_geometries,
    normalize_points,
    parse_crs,
    union_bounds,
)
from rasteret.read.grid import parse_resolution
from rasteret.read.points import POINT_SAMPLES_SCHEMA, plan_points, samples_table
from rasteret.records import RecordRef

MATCH_MODES = ("all", "latest")


# --- public API -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOptions:
    """What every AOI read accepts besides geometries, bands and filters (docs/reading.md).

    geometry_crs / geometry_column: CRS and geometry column of the AOI input.
    all_touched: include every pixel an AOI touches (rasterio's rasterisation rule).
    resolution / resampling: pixel size to read at, from the overview GDAL would pick.
    target_crs: put every record of an AOI on one snapped grid in this CRS.
    scale_offset: apply each band's scale/offset; invalid pixels become NaN.
    strict: raise ReadError when a record fails instead of warning and leaving it out.
    max_concurrent / coalesce_gap / progress: requests in flight, range merge gap, progress bar.
    backend / cloud_config / data_source: which store and credentials to read with.
    """

    geometry_crs: Any = "auto"
    geometry_column: str | None = None
    all_touched: bool = False
    resolution: float | tuple[float, float] | None = None
    resampling: Any = None
    target_crs: Any = None
    scale_offset: bool = False
    strict: bool = False
    max_concurrent: int | None = None
    coalesce_gap: int | None = None
    progress: bool | None = None
    backend: Any = None
    cloud_config: Any = None
    data_source: str | None = None


async def aget_numpy(
    collection: Any,
    geometries: Any,
    bands: str | Sequence[str],
    *,
    geometry_crs: Any = "auto",
    geometry_column: str | None = None,
    all_touched: bool = False,
    resolution: float | tuple[float, float] | None = None,
    resampling: Any = None,
    target_crs: Any = None,
    scale_offset: bool = False,
    strict: bool = False,
    max_concurrent: int | None = None,
    coalesce_gap: int | None = None,
    progress: bool | None = None,
    backend: Any = None,
    cloud_config: Any = None,
    data_source: str | None = None,
    return_index: bool = False,
    **filters: Any,
) -> Any:
    """Pixels of each record x AOI as ``[N, H, W]`` (one band) or ``[N, C, H, W]``.

    N runs over records and, inside each, AOIs. ``return_index=True`` returns ``(array, index)``
    with an Arrow table naming the record and AOI of every N. ``**filters`` go to
    ``collection.subset`` (e.g. ``cloud_cover_lt=20``); other options: :class:`ReadOptions`.
    """
    opts = _read_options(locals())
    read = await _read_aoi(collection, geometries, bands, opts, filters, "numpy")
    out = assemble.to_numpy(
        read.pieces,
        read.bands,
        scale_offset=scale_offset,
        return_index=return_index,
        stack=read.stack,
    )
    if return_index:
        array, index = out
        return array, assemble.with_attributes(index, read.aoi)
    return out


async def aget_xarray(
    collection: Any,
    geometries: Any,
    bands: str | Sequence[str],
    *,
    geometry_crs: Any = "auto",
    geometry_column: str | None = None,
    all_touched: bool = False,
    resolution: float | tuple[float, float] | None = None,
    resampling: Any = None,
    target_crs: Any = None,
    scale_offset: bool = False,
    strict: bool = False,
    max_concurrent: int | None = None,
    coalesce_gap: int | None = None,
    progress: bool | None = None,
    backend: Any = None,
    cloud_config: Any = None,
    data_source: str | None = None,
    xr_combine: str = "combine_first",
    **filters: Any,
) -> Any:
    """An ``xarray.Dataset``, one variable per band, dims ``(time, y, x)`` or
    ``(time, geometry, y, x)`` for several AOIs.

    Records in several CRSs go onto one grid in the most common CRS (with a warning) unless
    ``target_crs=`` says which. ``xr_combine`` merges records sharing a time: ``combine_first``
    (first valid pixel wins), ``merge`` (conflicts raise) or ``merge_override`` (the first
    record's extent wins). Other arguments as :func:`get_numpy`.
    """
    if xr_combine not in assemble.COMBINE_MODES:
        raise ConfigError(
            f"xr_combine={xr_combine!r} is not known; use one of {list(assemble.COMBINE_MODES)}"
        )
    opts = _read_options(locals())
    read = await _read_aoi(collection, geometries, bands, opts, filters, "xarray")
    return assemble.to_xarray(
        read.pieces, read.bands, read.aoi, combine=xr_combine, scale_offset=scale_offset
    )


async def aget_gdf(
    collection: Any,
    geometries: Any,
    bands: str | Sequence[str],
    *,
    geometry_crs: Any = "auto",
    geometry_column: str | None = None,
    all_touched: bool = False,
    resolution: float | tuple[float, float] | None = None,
    resampling: Any = None,
    target_crs: Any = None,
    scale_offset: bool = False,
    strict: bool = False,
    max_concurrent: int | None = None,
    coalesce_gap: int | None = None,
    progress: bool | None = None,
    backend: Any = None,
    cloud_config: Any = None,
    data_source: str | None = None,
    **filters: Any,
) -> Any:
    """A GeoDataFrame, one row per record x AOI x band: record_id, datetime, cloud_cover,
    collection, geometry_id, geometry (the AOI, in ``target_crs`` or the AOI's CRS), band, data
    (2-D array), transform, crs, plus the AOI input's columns. Arguments as :func:`get_numpy`.
    """
    opts = _read_options(locals())
    read = await _read_aoi(collection, geometries, bands, opts, filters, "gdf")
    out_crs = parse_crs(target_crs, "target_crs") if target_crs is not None else read.aoi.crs
    return assemble.to_gdf(read.pieces, read.aoi, out_crs=out_crs, scale_offset=scale_offset)


async def asample_points(
    collection: Any,
    points: Any,
    bands: str | Sequence[str],
    *,
    geometry_column: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    geometry_crs: Any = "auto",
    match: str = "all",
    max_distance_pixels: int = 0,
    return_neighbourhood: str = "off",
    scale_offset: bool = False,
    strict: bool = False,
    max_concurrent: int | None = None,
    progress: bool | None = None,
    cloud_config: Any = None,
    data_source: str | None = None,
    backend: Any = None,
    coalesce_gap: int | None = None,
    **filters: Any,
) -> pa.Table:
    """Pixel values at points as an Arrow table.

    points: shapely points, (x, y) pairs, WKB, GeoJSON, GeoDataFrame, or a table with a geometry
    column or x/y columns (``x``/``y``, ``lon``/``lat``, ``longitude``/``latitude`` are found).
    match: ``"all"`` (a row per record containing the point) or ``"latest"`` (the newest record
    with a valid value per point and band). Columns: POINT_SAMPLES_SCHEMA + the input's columns.
    """
    if match not in MATCH_MODES:
        raise ConfigError(f"match={match!r} is not known; use one of {list(MATCH_MODES)}")
    if max_distance_pixels or return_neighbourhood != "off":
        raise ConfigError(
            "max_distance_pixels / return_neighbourhood are not supported; sample the exact pixel "
            "(max_distance_pixels=0, return_neighbourhood='off')"
        )
    pts = normalize_points(
        points,
        geometry_crs=geometry_crs,
        geometry_column=geometry_column,
        x_column=x_column,
        y_column=y_column,
    )
    check_reserved(pts.attributes, POINT_SAMPLES_SCHEMA.names)
    band_list = _band_list(bands)
    minx, maxx = float(pts.x.min()), float(pts.x.max())
    miny, maxy = float(pts.y.min()), float(pts.y.max())
    bbox = bounds_to_crs((minx, miny, maxx, maxy), pts.crs, DEFAULT_CRS)
    records, band_list = _select_records(collection, band_list, bbox, filters)
    pplan = plan_points(records, band_list, pts)
    settings = _settings(
        collection, max_concurrent, progress, cloud_config, data_source, backend, coalesce_gap
    )
    result = await run_plan(pplan.plan, settings)
    failed = _report_failures(result.failures, {}, records, strict)
    samples = [s for s in pplan.samples if s.record_index not in failed]
    assert pplan.covered is not None
    outside = int((~pplan.covered).sum())
    if outside:
        _note(
            f"{outside} of {len(pts)} point(s) fall outside every selected record and have no rows"
        )
    return samples_table(
        samples, records, pts, match=match, scale_offset=scale_offset, band_order=band_list
    )


# --- sync forms -----------------------------------------------------------------------------


def _sync(afunc: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The blocking form of ``afunc`` (same signature), run on the background I/O loop; its
    warnings are raised again in the calling thread, pointing at the caller's line."""

    @functools.wraps(afunc)
    def run(*args: Any, **kwargs: Any) -> Any:
        async def call() -> tuple[Any, list[str]]:
            notes: list[str] = []
            _NOTES.set(notes)  # this task's own context: concurrent calls do not mix
            return await afunc(*args, **kwargs), notes

        result, notes = run_sync(call())
        for message in notes:
            warnings.warn(message, RuntimeWarning, stacklevel=_caller_level())
        return result

    run.__name__ = run.__qualname__ = name
    run.__doc__ = (afunc.__doc__ or "") + (
        f"\n\n    Blocking; ``await {afunc.__name__}(...)`` in async code.\n"
    )
    return run


_NOTES: ContextVar[list[str] | None] = ContextVar("rasteret_read_notes", default=None)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _note(message: str) -> None:
    """Warn the user: collected for the sync wrapper, or warned at once in async code."""
    notes = _NOTES.get()
    if notes is None:
        warnings.warn(message, RuntimeWarning, stacklevel=_caller_level())
    else:
        notes.append(message)


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside rasteret (the user's line)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


get_numpy = _sync(aget_numpy, "get_numpy")
get_xarray = _sync(aget_xarray, "get_xarray")
get_gdf = _sync(aget_gdf, "get_gdf")
sample_points = _sync(asample_points, "sample_points")


# --- shared pipeline ------------------------------------------------------------------------


@dataclass
class _AoiRead:
    """What an AOI read produced: finished pieces, the AOI input, the bands, and the stacked
    NumPy result the pieces were decoded into (None when each piece has its own array)."""

    pieces: list[Piece]
    aoi: GeometryInput
    bands: list[str]
    stack: assemble.Stack | None


def _read_options(values: dict[str, Any]) -> ReadOptions:
    """The :class:`ReadOptions` among a public function's arguments (its ``locals()``)."""
    return ReadOptions(**{f.name: values[f.name] for f in dataclasses.fields(ReadOptions)})


async def _read_aoi(
    collection: Any,
    geometries: Any,
    bands: Any,
    opts: ReadOptions,
    filters: dict[str, Any],
    mode: str,
) -> _AoiRead:
    aoi = normalize_geometries(
        geometries, geometry_crs=opts.geometry_crs, geometry_column=opts.geometry_column
    )
    reserved = assemble.INDEX_COLUMNS if mode == "numpy" else assemble.GDF_COLUMNS
    check_reserved(aoi.attributes, reserved)
    band_list = _band_list(bands)
    bbox = bounds_to_crs(union_bounds(aoi.geometries), aoi.crs, DEFAULT_CRS)
    records, band_list = _select_records(collection, band_list, bbox, filters)
    target_crs = parse_crs(opts.target_crs, "target_crs") if opts.target_crs is not None else None
    if target_crs is None and mode == "xarray":
        target_crs = _one_grid_crs(records, band_list)
    aplan = plan_aoi(
        records,
        band_list,
        aoi,
        AoiOptions(
            all_touched=bool(opts.all_touched),
            resolution=parse_resolution(opts.resolution),
            target_crs=target_crs,
            resampling=opts.resampling,
        ),
    )
    planned = [p for p in aplan.pieces if p.record_index not in aplan.failures]
    stacked = mode == "numpy" and not opts.scale_offset
    stack = assemble.allocate(planned, band_list, stack=stacked)
    settings = _settings(
        collection,
        opts.max_concurrent,
        opts.progress,
        opts.cloud_config,
        opts.data_source,
        opts.backend,
        opts.coalesce_gap,
    )
    result: RunResult = await run_plan(aplan.plan, settings)
    failed = _report_failures(result.failures, aplan.failures, records, bool(opts.strict))
    pieces = [p for p in planned if p.record_index not in failed]
    await _finish(pieces)
    if not pieces:
        _note(
            f"the AOI(s) touch no pixel of the {len(records)} selected record(s) for bands "
            f"{band_list}; the result is empty"
        )
    return _AoiRead(pieces, aoi, band_list, stack)


INLINE_FINISH_PIXELS = 1 << 22


async def _finish(pieces: Sequence[Piece]) -> None:
    """Resample / reproject / mask every piece in a thread pool (GDAL releases the GIL); small
    reads (chips) finish right here, where thread hand-offs would cost more than the work."""
    if not pieces:
        return
    if sum(p.grid.width * p.grid.height for p in pieces) <= INLINE_FINISH_PIXELS:
        for p in pieces:
            p.finish()
        return
    loop = asyncio.get_running_loop()
    pool = _finish_pool()
    await asyncio.gather(*(loop.run_in_executor(pool, p.finish) for p in pieces))


_POOL: ThreadPoolExecutor | None = None


def _finish_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="rasteret-finish"
        )
    return _POOL


def _band_list(bands: str | Sequence[str]) -> list[str]:
    if isinstance(bands, str):
        bands = [bands]
    if bands is None or not len(bands):
        raise BandNotFoundError("no bands requested: pass bands=['B04', ...]")
    out: list[str] = []
    for b in bands:
        if not isinstance(b, str):
            raise BandNotFoundError(f"band names must be strings, got {b!r}")
        if b not in out:
            out.append(b)
    return out


def _select_records(
    collection: Any,
    bands: list[str],
    bbox: tuple[float, float, float, float] | None,
    filters: dict[str, Any],
) -> tuple[list[RecordRef], list[str]]:
    """Filter the collection, check the bands and rebuild the records (no I/O)."""
    if _is_record_list(collection):
        records = list(collection)
        _check_bands(records, bands)
        if filters:
            raise ConfigError(f"filters {sorted(filters)} need a Collection, not a list of records")
        return records, bands
    if not hasattr(collection, "iter_records"):
        raise CollectionError(
            f"cannot read from a {type(collection).__name__}: pass a rasteret Collection or a "
            "list of RecordRef"
        )
    coll = collection
    _check_filters(coll, filters)
    resolve = getattr(coll, "resolve_bands", None)
    if callable(resolve):
        resolved = resolve(bands)
        if isinstance(resolved, list | tuple) and all(isinstance(b, str) for b in resolved):
            bands = list(resolved)
    if filters:
        coll = coll.subset(**filters)
    if bbox is not None and hasattr(coll, "subset"):
        try:
            coll = coll.subset(bbox=bbox)
        except (CollectionError, GeometryError):
            pass
    return list(coll.iter_records(bands)), bands


def _check_filters(collection: Any, filters: dict[str, Any]) -> None:
    """Unknown keywords are typos, not filters: name them and list what is accepted."""
    if not filters:
        return
    subset = getattr(collection, "subset", None)
    params = inspect.signature(subset).parameters if subset is not None else {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(filters) - set(params))
    if unknown:
        options = [f.name for f in dataclasses.fields(ReadOptions)]
        raise ConfigError(
            f"unknown keyword(s) {unknown}: read options are {options}; filters (passed to "
            f"collection.subset) are {sorted(params)}"
        )


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(r, RecordRef) for r in value)


def _check_bands(records: Sequence[RecordRef], bands: Sequence[str]) -> None:
    have = sorted({b for r in records for b in r.bands})
    missing = [b for b in bands if b not in have]
    if missing and records:
        raise BandNotFoundError(f"band(s) {missing} not found; available bands: {have}")


def _one_grid_crs(records: Sequence[RecordRef], bands: Sequence[str]) -> CRS | None:
    """For xarray: None when every band of every record lies on one pixel lattice (same CRS,
    pixel size and alignment), else the most common CRS to warp onto (with a warning)."""
    counts: Counter[str] = Counter()
    crs_of: dict[str, CRS] = {}
    lattices: set[tuple[str, float, float, float, float]] = set()
    for r in records:
        seen_crs = None
        for b in bands:
            ref = r.bands.get(b)
            if ref is None or ref.header.crs is None:
                continue
            key = ref.header.crs.to_wkt()
            crs_of[key] = ref.header.crs
            if seen_crs is None:
                counts[key] += 1
                seen_crs = key
            t = ref.header.transform
            lattices.add((key, t.a, t.e, round((t.c / t.a) % 1, 9), round((t.f / t.e) % 1, 9)))
    if len(lattices) <= 1:
        return None
    key, _ = counts.most_common(1)[0]
    crs = crs_of[key]
    what = f"{len(counts)} CRSs" if len(counts) > 1 else "different pixel grids"
    _note(
        f"records span {what}; reading all onto one grid in the most common CRS "
        f"({crs.to_string()}) at the finest resolution; pass target_crs= and resolution= to "
        "choose"
    )
    return crs


def _settings(
    collection: Any,
    max_concurrent: int | None,
    progress: bool | None,
    cloud_config: Any,
    data_source: str | None,
    backend: Any,
    coalesce_gap: int | None,
) -> FetchSettings:
    if max_concurrent is not None and int(max_concurrent) < 1:
        raise ConfigError(f"max_concurrent must be >= 1, got {max_concurrent!r}")
    return FetchSettings(
        backend=_backend(collection, backend, cloud_config, data_source),
        max_concurrent=max_concurrent,
        coalesce_gap=coalesce_gap,
        progress=progress,
    )


def _backend(collection: Any, backend: Any, cloud_config: Any, data_source: str | None) -> Any:
    """The backend of a read: the one passed, else the collection's own (the backend its build
    used), else the process default; plus the access recipe of the dataset (``data_source``
    passed, else the collection's): its registered descriptor (cloud config, requires_auth,
    credentials URL), else its registered CloudConfig. A ``cloud_config`` passed to the read
    wins over both. None when nothing applies (the engine then uses the default backend).
    Derived backends are cached by the base backend, so repeated reads share their stores."""
    base = backend if backend is not None else getattr(collection, "backend", None)
    if base is not None and not isinstance(base, Backend):
        return base  # a custom backend object: used as given
    source = data_source or getattr(collection, "data_source", None)
    descriptor = DatasetRegistry.get(source) if source else None
    if descriptor is not None:
        base = backend_for_descriptor(descriptor, base)
    elif source and (registered := CloudConfig.get_config(source)) is not None:
        base = (base or default_backend()).with_dataset(registered)
    config = CloudConfig.from_value(cloud_config)
    if config is not None:
        base = (base or default_backend()).with_dataset(config, override=True)
    return base


def _report_failures(
    fetch_failures: dict[Hashable, BaseException],
    plan_failures: dict[int, BaseException],
    records: Sequence[RecordRef],
    strict: bool,
) -> set[int]:
    failures: dict[int, BaseException] = {**plan_failures}
    for owner, exc in fetch_failures.items():
        failures[int(owner)] = exc  # type: ignore[arg-type]
    if not failures:
        return set()
    items = sorted(failures.items())
    shown = "; ".join(f"{records[i].record_id!r}: {exc}" for i, exc in items[:5])
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    message = f"{len(items)} record(s) could not be read: {shown}{more}"
    if strict:
        raise ReadError(message) from items[0][1]
    _note(message + "; they are left out (strict=True raises instead)")
    return set(failures)
