"""Plan AOI reads: records x geometries x bands -> pieces, each with its output grid and buffers.

Three ways to place a piece, all planned before any byte is fetched:

* native (default): the AOI window of the full-resolution grid, decoded straight into the
  output array (``rasterio.mask.mask(crop=True)`` semantics).
* ``resolution=`` alone: the AOI window read with ``out_shape`` from the overview GDAL picks.
* shared grid (``target_crs=``, or several CRSs in one xarray): every record of an AOI lands on
  one snapped grid through ``rasterio.warp.reproject``; records already on that grid skip the warp.

Pieces are planned without memory: :meth:`Piece.bind` hands each one the array it fills (a
view into the stacked NumPy result, or its own array) and registers its blocks, so decoded
blocks are copied once, straight into the output. Each piece finishes after the fetch (resample
/ reproject, then the AOI mask and nodata fill); the mask is skipped when the AOI covers the
piece's every pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS
from rasterio.enums import Resampling

from rasteret.errors import GeometryError, RasteretError, ReadError
from rasteret.read.geometry import GeometryInput, bounds_to_crs, to_crs, transform_xy, union_bounds
from rasteret.read.grid import (
    Grid,
    Window,
    best_level,
    header_grid,
    level_for_resolution,
    level_window,
    snapped_grid,
)
from rasteret.read.plan import Plan, Source
from rasteret.read.warp import margin, parse_resampling, reproject_to, resample
from rasteret.read.window import aoi_mask, apply_fill, fill_value, nodata_pixels
from rasteret.records import BandRef, RecordRef
from rasteret.tiff.model import TiffHeader

# A finisher completes a bound piece's array after the fetch and returns where pixels are kept
# (inside the AOI and unmasked), or None when every pixel is.
Finisher = Callable[[], np.ndarray | None]
Placer = Callable[[np.ndarray], Finisher]


@dataclass(eq=False)
class Piece:
    """One output array: one band of one record cut to one AOI.

    grid: where the array's pixels lie; dtype / fill: its type and the value of pixels outside.
    data: the array (after :meth:`bind`; complete after :meth:`finish`).
    keep: False where a pixel is outside the AOI or masked (None: every pixel is kept).
    """

    record_index: int
    record: RecordRef
    geometry_index: int
    band: str
    band_ref: BandRef
    grid: Grid
    dtype: np.dtype
    fill: float | int
    placer: Placer
    data: np.ndarray | None = None
    keep: np.ndarray | None = None
    _finisher: Finisher | None = None
    _invalid: np.ndarray | None = None
    _scanned: bool = False

    def bind(self, out: np.ndarray) -> None:
        """Fill ``out`` (``grid.shape``, ``dtype``): registers the blocks that decode into it."""
        if out.shape != self.grid.shape or out.dtype != self.dtype:
            raise ValueError(f"piece needs a {self.grid.shape} {self.dtype} array")
        self.data = out
        self._finisher = self.placer(out)

    def finish(self) -> None:
        if self._finisher is None:
            raise RuntimeError("piece not bound, or already finished")
        self.keep = self._finisher()
        self._finisher = None

    @property
    def invalid(self) -> np.ndarray | None:
        """True where the pixel is fill (outside the AOI, masked or nodata); None when no pixel
        is. Computed on first use: NumPy results without scale_offset never scan for nodata."""
        if not self._scanned and self.data is not None:
            invalid = None if self.keep is None else ~self.keep
            nod = nodata_pixels(self.data, self.band_ref.nodata)
            if nod is not None and nod.any():
                invalid = nod if invalid is None else invalid | nod
            self._invalid, self._scanned = invalid, True
        return self._invalid


@dataclass(frozen=True)
class AoiOptions:
    """How pieces are placed and masked. ``grid``: one fixed output grid for every AOI (chip
    reads); otherwise ``target_crs`` gives each AOI a snapped grid of its own."""

    all_touched: bool = False
    resolution: tuple[float, float] | None = None
    target_crs: CRS | None = None
    resampling: object = None
    grid: Grid | None = None


@dataclass
class AoiPlan:
    """Everything one AOI read will do, decided before the fetch."""

    pieces: list[Piece] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    failures: dict[int, BaseException] = field(default_factory=dict)
    grids: dict[int, Grid] = field(default_factory=dict)


class _Planner:
    def __init__(
        self,
        records: Sequence[RecordRef],
        bands: Sequence[str],
        aoi: GeometryInput,
        opts: AoiOptions,
    ) -> None:
        self.records = records
        self.bands = bands
        self.aoi = aoi
        self.opts = opts
        self.out = AoiPlan()
        self._geoms: dict[tuple[int, str], shapely.Geometry] = {}
        self._masks: dict[tuple[str, int, Window], np.ndarray] = {}
        self._windows: dict[tuple, tuple[Grid, shapely.Geometry, Window | None]] = {}

    def geom_in(self, gi: int, crs: CRS) -> shapely.Geometry:
        key = (gi, crs.srs)  # the CRS's own definition: cheap, unlike to_wkt()
        geom = self._geoms.get(key)
        if geom is None:
            geom = to_crs(self.aoi.geometries[gi], self.aoi.crs, crs)
            self._geoms[key] = geom
        return geom

    def _window(self, gi: int, header: TiffHeader) -> tuple[Grid, shapely.Geometry, Window | None]:
        """The full-resolution grid of ``header``, AOI ``gi`` in its CRS and the AOI's window,
        worked out once per grid (the bands and dates of a scene share one)."""
        key = (gi, header.crs.srs, header.transform, header.width, header.height)
        found = self._windows.get(key)
        if found is None:
            g0 = header_grid(header, 0)
            geom = self.geom_in(gi, header.crs)
            found = self._windows[key] = (g0, geom, g0.geometry_window([geom]))
        return found

    def run(self) -> AoiPlan:
        if self.opts.grid is not None:
            self.out.grids = dict.fromkeys(range(len(self.aoi)), self.opts.grid)
        elif self.opts.target_crs is not None:
            self.out.grids = shared_grids(
                self.aoi, self.records, self.bands, self.opts.target_crs, self.opts.resolution
            )
        for ri, record in enumerate(self.records):
            try:
                self._record(ri, record)
            except RasteretError as exc:  # this record cannot be placed: name it, read the rest
                self.out.failures[ri] = exc
        return self.out

    def _record(self, ri: int, record: RecordRef) -> None:
        for band in self.bands:
            ref = record.bands.get(band)
            if ref is None:
                continue
            if ref.header.crs is None:
                raise ReadError(
                    f"band {band!r} of record {record.record_id!r} ({ref.url}) has no CRS, so "
                    "AOIs cannot be placed on it"
                )
            for gi in range(len(self.aoi)):
                piece = self._piece(ri, record, gi, band, ref)
                if piece is not None:
                    self.out.pieces.append(piece)

    def _piece(self, ri: int, record: RecordRef, gi: int, band: str, ref: BandRef) -> Piece | None:
        header = ref.header
        dtype = np.dtype(header.images[0].dtype)
        fill = fill_value(dtype, ref.nodata)
        resampling = parse_resampling(self.opts.resampling, dtype)
        g0, geom, win = self._window(gi, header)
        if win is None:
            return None
        common = dict(record_index=ri, record=record, geometry_index=gi, band=band, band_ref=ref)
        if self.out.grids:
            return self._shared(common, ref, dtype, fill, resampling, g0, gi)
        if self.opts.resolution is not None:
            rx, ry = self.opts.resolution
            out_w = max(1, int(round(win.width * g0.res[0] / rx)))
            out_h = max(1, int(round(win.height * g0.res[1] / ry)))
            if (out_w, out_h) != (win.width, win.height):
                return self._resampled(
                    common, ref, dtype, fill, resampling, g0, geom, win, out_w, out_h
                )
        return self._native(common, ref, dtype, fill, g0, geom, win)

    # --- placements -------------------------------------------------------------------------

    def _native(self, common, ref, dtype, fill, g0, geom, win) -> Piece:
        grid = g0.window_grid(win)
        src = Source(ref.url, ref.header.images[0], ref.band_index, ref.header.etag)
        owner = common["record_index"]
        all_touched = self.opts.all_touched

        def place(data: np.ndarray) -> Finisher:
            # the window lies inside the image: every pixel is decoded (sparse blocks get fill)
            self.out.plan.add_region(src, win, data, owner=owner, fill=fill)
            mask = self._mask(ref, 0, win, owner)

            def finish() -> np.ndarray | None:
                keep = _combined(aoi_mask(geom, grid, all_touched), mask)
                apply_fill(data, keep, fill)
                return keep

            return finish

        return Piece(grid=grid, dtype=dtype, fill=fill, placer=place, **common)

    def _resampled(self, common, ref, dtype, fill, resampling, g0, geom, win, out_w, out_h):
        header = ref.header
        level = best_level(header, win, out_w, out_h, nearest=resampling == Resampling.nearest)
        lwin, floating = level_window(header, level, win)
        image = header.images[level]
        m = margin(resampling, max(floating[2] / out_w, floating[3] / out_h))
        c0 = min(lwin.col_off, math.floor(floating[0])) - m
        r0 = min(lwin.row_off, math.floor(floating[1])) - m
        c1 = max(lwin.col_stop, math.ceil(floating[0] + floating[2])) + m
        r1 = max(lwin.row_stop, math.ceil(floating[1] + floating[3])) + m
        region = Window(c0, r0, c1 - c0, r1 - r0).clip(image.width, image.height)
        assert region is not None
        src = Source(ref.url, image, ref.band_index, header.etag)
        src_grid = header_grid(header, level).window_grid(region)
        grid = g0.window_grid(win).resized(out_w, out_h)
        rel = (floating[0] - region.col_off, floating[1] - region.row_off, floating[2], floating[3])
        owner = common["record_index"]
        all_touched = self.opts.all_touched

        def place(data: np.ndarray) -> Finisher:
            buf = np.empty((region.height, region.width), dtype=dtype)
            self.out.plan.add_region(src, region, buf, owner=owner, fill=fill)
            mask = self._mask(ref, level, region, owner)

            def finish() -> np.ndarray | None:
                data[...] = resample(
                    buf, mask, ref.nodata, src_grid, rel, (out_h, out_w), resampling, fill
                )
                keep = aoi_mask(geom, grid, all_touched)
                apply_fill(data, keep, fill)
                return keep

            return finish

        return Piece(grid=grid, dtype=dtype, fill=fill, placer=place, **common)

    def _shared(self, common, ref, dtype, fill, resampling, g0, gi) -> Piece | None:
        header = ref.header
        grid = self.out.grids[gi]
        geom_t = self.geom_in(gi, grid.crs)
        all_touched = self.opts.all_touched
        aligned = _aligned_window(g0, grid)
        if aligned is not None:
            return self._aligned(common, ref, dtype, fill, grid, geom_t, aligned)
        src_bounds = bounds_to_crs(grid.bounds, grid.crs, header.crs)
        if src_bounds is None:
            return None
        full = g0.bounds_window(src_bounds)
        factor = min(full.width / grid.width, full.height / grid.height)
        level = level_for_resolution(header, factor, nearest=resampling == Resampling.nearest)
        gl = header_grid(header, level)
        lwin = gl.bounds_window(src_bounds)
        level_factor = min(lwin.width / grid.width, lwin.height / grid.height)
        region = lwin.grown(margin(resampling, level_factor)).clip(gl.width, gl.height)
        if region is None:
            return None
        src = Source(ref.url, header.images[level], ref.band_index, header.etag)
        src_grid = gl.window_grid(region)
        owner = common["record_index"]

        def place(data: np.ndarray) -> Finisher:
            buf = np.empty((region.height, region.width), dtype=dtype)
            self.out.plan.add_region(src, region, buf, owner=owner, fill=fill)
            mask = self._mask(ref, level, region, owner)

            def finish() -> np.ndarray | None:
                reproject_to(buf, mask, src_grid, ref.nodata, grid, resampling, fill, out=data)
                keep = aoi_mask(geom_t, grid, all_touched)
                apply_fill(data, keep, fill)
                return keep

            return finish

        return Piece(grid=grid, dtype=dtype, fill=fill, placer=place, **common)

    def _aligned(self, common, ref, dtype, fill, grid, geom_t, aligned) -> Piece:
        """The record's full-resolution pixels are the shared grid's pixels: copy, no warp
        (what GDAL's warper returns too, for every kernel, when grids coincide)."""
        header = ref.header
        inside = aligned.clip(header.width, header.height)
        assert inside is not None  # the AOI touches the raster, and the grid covers the AOI
        rows = slice(inside.row_off - aligned.row_off, inside.row_stop - aligned.row_off)
        cols = slice(inside.col_off - aligned.col_off, inside.col_stop - aligned.col_off)
        whole = (inside.width, inside.height) == (grid.width, grid.height)
        src = Source(ref.url, header.images[0], ref.band_index, header.etag)
        owner = common["record_index"]
        all_touched = self.opts.all_touched

        def place(data: np.ndarray) -> Finisher:
            if not whole:
                data[...] = fill  # pixels beyond the raster's edge
            self.out.plan.add_region(src, inside, data[rows, cols], owner=owner, fill=fill)
            mask = self._mask(ref, 0, inside, owner)

            def finish() -> np.ndarray | None:
                inside_aoi = aoi_mask(geom_t, grid, all_touched)
                if whole:
                    keep = _combined(inside_aoi, mask)
                else:
                    keep = np.zeros(grid.shape, dtype=bool)
                    keep[rows, cols] = True if inside_aoi is None else inside_aoi[rows, cols]
                    if mask is not None:
                        keep[rows, cols] &= mask
                apply_fill(data, keep, fill)
                return keep

            return finish

        return Piece(grid=grid, dtype=dtype, fill=fill, placer=place, **common)

    def _mask(self, ref: BandRef, level: int, window: Window, owner: int) -> np.ndarray | None:
        header = ref.header
        layout = header.masks[level] if level < len(header.masks) else None
        if layout is None:
            return None
        key = (ref.url, level, window)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.empty((window.height, window.width), dtype=bool)
            self.out.plan.add_region(
                Source(ref.url, layout, 0, header.etag),
                window,
                mask,
                owner=owner,
                mask=True,
                fill=False,
            )
            self._masks[key] = mask
        return mask


def _combined(keep: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray | None:
    """Pixels kept by both the AOI and the file's mask (None = all; may be the shared mask)."""
    if mask is None or keep is None:
        return mask if keep is None else keep
    return keep & mask


def _aligned_window(g0: Grid, grid: Grid) -> Window | None:
    """The window of ``g0`` that is exactly ``grid`` (same CRS, pixel size, whole-pixel offset)."""
    if g0.crs is None or grid.crs is None or not g0.crs.equals(grid.crs):
        return None
    t0, t = g0.transform, grid.transform
    if not (math.isclose(t0.a, t.a, rel_tol=1e-12) and math.isclose(t0.e, t.e, rel_tol=1e-12)):
        return None
    if t0.b or t0.d or t.b or t.d:
        return None
    col = (t.c - t0.c) / t0.a
    row = (t.f - t0.f) / t0.e
    if abs(col - round(col)) > 1e-9 or abs(row - round(row)) > 1e-9:
        return None
    return Window(int(round(col)), int(round(row)), grid.width, grid.height)


def plan_aoi(
    records: Sequence[RecordRef], bands: Sequence[str], aoi: GeometryInput, opts: AoiOptions
) -> AoiPlan:
    """Decide every piece and every block of an AOI read."""
    return _Planner(records, bands, aoi, opts).run()


def shared_grids(
    aoi: GeometryInput,
    records: Sequence[RecordRef],
    bands: Sequence[str],
    target_crs: CRS,
    resolution: tuple[float, float] | None,
) -> dict[int, Grid]:
    """One snapped grid per AOI in ``target_crs``; without ``resolution``, the finest native
    pixel size of the records, measured in ``target_crs`` at the AOIs' centre."""
    res = resolution or native_resolution(aoi, records, bands, target_crs)
    grids = {}
    for gi, geom in enumerate(aoi.geometries):
        bounds = shapely.bounds(to_crs(geom, aoi.crs, target_crs))
        grids[gi] = snapped_grid(tuple(float(v) for v in bounds), target_crs, res)
    return grids


def native_resolution(
    aoi: GeometryInput, records: Sequence[RecordRef], bands: Sequence[str], target_crs: CRS
) -> tuple[float, float]:
    """The finest pixel size (x, y) of the records' bands, expressed in ``target_crs``."""
    minx, miny, maxx, maxy = union_bounds(aoi.geometries)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    best: tuple[float, float] | None = None
    seen: set[tuple[str, float, float]] = set()
    for record in records:
        for band in bands:
            ref = record.bands.get(band)
            if ref is None or ref.header.crs is None:
                continue
            t = ref.header.transform
            key = (ref.header.crs.to_wkt(), t.a, t.e)
            if key in seen:
                continue
            seen.add(key)
            res = _pixel_size_in(ref.header.crs, abs(t.a), abs(t.e), aoi.crs, (cx, cy), target_crs)
            if res is not None:
                best = res if best is None else (min(best[0], res[0]), min(best[1], res[1]))
    if best is None:
        raise GeometryError(
            "cannot derive a resolution for target_crs= from the records; pass resolution="
        )
    return best


def _pixel_size_in(
    src_crs: CRS, ax: float, ey: float, aoi_crs: CRS, centre: tuple[float, float], dst_crs: CRS
) -> tuple[float, float] | None:
    if src_crs.equals(dst_crs):
        return (ax, ey)
    sx, sy = transform_xy(np.array([centre[0]]), np.array([centre[1]]), aoi_crs, src_crs)
    xs = np.array([sx[0], sx[0] + ax, sx[0]])
    ys = np.array([sy[0], sy[0], sy[0] + ey])
    tx, ty = transform_xy(xs, ys, src_crs, dst_crs)
    if not (np.isfinite(tx).all() and np.isfinite(ty).all()):
        return None
    dx = math.hypot(tx[1] - tx[0], ty[1] - ty[0])
    dy = math.hypot(tx[2] - tx[0], ty[2] - ty[0])
    return (dx, dy) if dx > 0 and dy > 0 else None
