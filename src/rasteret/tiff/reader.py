"""Open one GeoTIFF and read windows of it, with rasterio's semantics and no GDAL.

``open_geotiff(source, store=None)`` parses the header (one request for a typical COG) and
returns a :class:`GeoTiff`; ``GeoTiff.read(indexes, window, overview_level)`` returns exactly
what ``rasterio.open(source).read(indexes, window=window)`` (or, with ``overview_level=k``,
``rasterio.open(source, overview_level=k).read(...)``) returns:

- indexes: 1-based; None = all bands, shape ``(bands, rows, cols)``; an int gives 2-D.
- window: ``(col_off, row_off, width, height)``, a rasterio ``Window`` or
  ``((row_start, row_stop), (col_start, col_stop))``; cropped to the image like rasterio
  (non-boundless); fractional windows are sampled nearest-neighbour like GDAL.
- sparse blocks read as nodata (or 0); ``read_masks`` gives 0/255 from the internal mask,
  else from nodata, else from an 8-bit alpha band, else all 255.

``store`` is an obstore store (``source`` is then the key inside it) or a
:class:`rasteret.io.Backend`; by default the process-wide backend routes ``source`` by URL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS

from rasteret.errors import BandNotFoundError, ReadArgumentError
from rasteret.io import Backend, default_backend, redact_url, run_sync
from rasteret.tiff.engine import BlockRef, Sink, fetch_blocks
from rasteret.tiff.header import read_header
from rasteret.tiff.model import ImageLayout, TiffHeader

__all__ = ["GeoTiff", "open_geotiff", "open_geotiff_async", "window_items"]

WindowLike = Any
# Extra samples: 1 = associated alpha, 2 = unassociated alpha (GDAL treats both as alpha)
_ALPHA = (1, 2)


def _backend(store: Any) -> Backend:
    if store is None:
        return default_backend()
    if isinstance(store, Backend):
        return store
    return Backend(store=store)


async def open_geotiff_async(source: str, *, store: Any = None) -> GeoTiff:
    """Parse the header of ``source`` and return a :class:`GeoTiff` (for use in a loop)."""
    backend = _backend(store)
    header = await read_header(str(source), backend=backend)
    return GeoTiff(header, backend)


def open_geotiff(source: str, *, store: Any = None) -> GeoTiff:
    """Parse the header of ``source`` and return a :class:`GeoTiff`."""
    return run_sync(open_geotiff_async(source, store=store))


class _Window:
    """An integer window cropped to the image, plus nearest sampling for fractional ones."""

    def __init__(self, window: WindowLike, height: int, width: int) -> None:
        col_off, row_off, w, h = _as_floats(window, height, width)
        r0 = min(max(row_off, 0.0), height)
        c0 = min(max(col_off, 0.0), width)
        r1 = max(0.0, min(row_off + h, height))
        c1 = max(0.0, min(col_off + w, width))
        h, w = max(r1 - r0, 0.0), max(c1 - c0, 0.0)
        self.out_rows = int(math.floor(h + 0.5))
        self.out_cols = int(math.floor(w + 0.5))
        self.rows = _samples(r0, h, self.out_rows, height)
        self.cols = _samples(c0, w, self.out_cols, width)
        # The integer window that covers every sampled pixel
        self.row_off = int(self.rows[0]) if len(self.rows) else 0
        self.col_off = int(self.cols[0]) if len(self.cols) else 0
        self.height = int(self.rows[-1]) + 1 - self.row_off if len(self.rows) else 0
        self.width = int(self.cols[-1]) + 1 - self.col_off if len(self.cols) else 0
        self.exact = self.height == self.out_rows and self.width == self.out_cols

    def sample(self, arr: np.ndarray) -> np.ndarray:
        if self.exact:
            return arr
        return arr[..., self.rows - self.row_off, :][..., self.cols - self.col_off]


def _samples(off: float, length: float, n: int, limit: int) -> np.ndarray:
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if off == int(off) and length == n:
        return np.arange(int(off), int(off) + n, dtype=np.int64)
    idx = np.floor(off + (np.arange(n) + 0.5) * (length / n)).astype(np.int64)
    return np.clip(idx, 0, limit - 1)


def _as_floats(window: WindowLike, height: int, width: int) -> tuple[float, float, float, float]:
    if window is None:
        return 0.0, 0.0, float(width), float(height)
    if all(hasattr(window, a) for a in ("col_off", "row_off", "width", "height")):
        values = (window.col_off, window.row_off, window.width, window.height)
    elif isinstance(window, Sequence) and len(window) == 4:
        values = tuple(window)
    elif isinstance(window, Sequence) and len(window) == 2:
        return _from_slices(window, height, width)
    else:
        raise ReadArgumentError(
            f"window {window!r} is not (col_off, row_off, width, height), a rasterio Window "
            "or ((row_start, row_stop), (col_start, col_stop))"
        )
    try:
        col_off, row_off, w, h = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ReadArgumentError(f"window {window!r} holds non-numeric values") from None
    if not all(math.isfinite(v) for v in (col_off, row_off, w, h)) or w < 0 or h < 0:
        raise ReadArgumentError(f"window {window!r} needs finite offsets and sizes >= 0")
    return col_off, row_off, w, h


def _from_slices(window: Sequence[Any], height: int, width: int) -> tuple[float, ...]:
    """rasterio's ``Window.from_slices`` (non-boundless): negative indexes count from the end."""
    out = []
    for pair, size in zip(window, (height, width), strict=True):
        if isinstance(pair, slice):
            start, stop = pair.start, pair.stop
        elif isinstance(pair, Sequence) and len(pair) == 2:
            start, stop = pair
        else:
            raise ReadArgumentError(f"window {window!r}: each of rows, cols needs (start, stop)")
        start = 0.0 if start is None else float(start)
        stop = float(size) if stop is None else float(stop)
        start = start + size if start < 0 else start
        stop = stop + size if stop < 0 else stop
        out.append((start, max(stop - start, 0.0)))
    (row_off, h), (col_off, w) = out
    return col_off, row_off, w, h


def window_items(
    url: str,
    layout: ImageLayout,
    bands: Sequence[int],
    row_off: int,
    col_off: int,
    out: np.ndarray,
    *,
    etag: str | None = None,
    fill: float | int = 0,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[tuple[BlockRef, Sink]]:
    """Engine items that copy window ``(row_off, col_off, out.shape[1:])`` of ``layout``.

    bands: 0-based samples; ``out[i]`` receives sample ``bands[i]``. Sparse blocks are filled
    with ``fill``. ``transform`` (optional) maps a decoded block before it is copied (masks).
    """
    _, rows, cols = out.shape
    if rows == 0 or cols == 0 or not bands:
        return []
    bh, bw = layout.block_height, layout.block_width
    planar = layout.planar_configuration == 2
    items: list[tuple[BlockRef, Sink]] = []
    for brow in range(row_off // bh, (row_off + rows - 1) // bh + 1):
        r0 = max(row_off, brow * bh)
        r1 = min(row_off + rows, (brow + 1) * bh)
        for bcol in range(col_off // bw, (col_off + cols - 1) // bw + 1):
            c0 = max(col_off, bcol * bw)
            c1 = min(col_off + cols, (bcol + 1) * bw)
            src = (slice(r0 - brow * bh, r1 - brow * bh), slice(c0 - bcol * bw, c1 - bcol * bw))
            dst = (slice(r0 - row_off, r1 - row_off), slice(c0 - col_off, c1 - col_off))
            if planar:
                for i, band in enumerate(bands):
                    index = layout.block_index(brow, bcol, band)
                    sink = _sink(out, [i], [0], src, dst, fill, transform)
                    items.append((BlockRef(url, layout, index, etag), sink))
            else:
                index = layout.block_index(brow, bcol)
                sink = _sink(out, range(len(bands)), bands, src, dst, fill, transform)
                items.append((BlockRef(url, layout, index, etag), sink))
    return items


def _sink(
    out: np.ndarray,
    targets: Sequence[int],
    samples: Sequence[int],
    src: tuple[slice, slice],
    dst: tuple[slice, slice],
    fill: float | int,
    transform: Callable[[np.ndarray], np.ndarray] | None,
) -> Sink:
    targets = list(targets)
    samples = list(samples)
    contiguous = (
        targets == list(range(len(out)))
        and len(samples) > 0
        and samples == list(range(samples[0], samples[0] + len(samples)))
    )

    def sink(block: np.ndarray | None) -> None:
        if block is None:
            out[targets, dst[0], dst[1]] = fill
            return
        part = block[src[0], src[1]]
        if transform is not None:
            part = transform(part)
        if contiguous:
            np.copyto(
                out[:, dst[0], dst[1]],
                np.moveaxis(part[:, :, samples[0] : samples[0] + len(samples)], 2, 0),
                casting="unsafe",
            )
        else:
            for t, s in zip(targets, samples, strict=True):
                out[t, dst[0], dst[1]] = part[:, :, s]

    return sink


class GeoTiff:
    """One opened GeoTIFF: its parsed header and rasterio-like reads of its pixels."""

    def __init__(self, header: TiffHeader, backend: Backend | None = None) -> None:
        self.header = header
        self.backend = backend or default_backend()

    def __repr__(self) -> str:
        return (
            f"GeoTiff({redact_url(self.header.source)!r}, {self.width}x{self.height}, "
            f"count={self.count}, dtype={self.dtype}, overviews={len(self.overviews)})"
        )

    def __enter__(self) -> GeoTiff:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (no file handle is held); kept for rasterio compatibility."""

    # --- metadata ---------------------------------------------------------------------------

    @property
    def source(self) -> str:
        return self.header.source

    @property
    def width(self) -> int:
        return self.header.width

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def count(self) -> int:
        return self.header.count

    @property
    def indexes(self) -> tuple[int, ...]:
        return tuple(range(1, self.count + 1))

    @property
    def dtype(self) -> np.dtype:
        return self.header.dtype

    @property
    def dtypes(self) -> tuple[str, ...]:
        return (str(self.dtype),) * self.count

    @property
    def nodata(self) -> float | None:
        return self.header.nodata

    @property
    def crs(self) -> CRS | None:
        return self.header.crs

    @property
    def transform(self) -> Affine:
        return self.header.transform

    @property
    def res(self) -> tuple[float, float]:
        t = self.transform
        return (math.hypot(t.a, t.d), math.hypot(t.b, t.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        xs = (t.c, t.c + t.a * self.width)
        ys = (t.f, t.f + t.e * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def block_shapes(self) -> list[tuple[int, int]]:
        full = self.header.full
        return [(full.block_height, full.block_width)] * self.count

    @property
    def overviews(self) -> list[tuple[int, int]]:
        return self.header.overviews

    @property
    def header_requests(self) -> int:
        return self.header.header_requests

    @property
    def scales(self) -> tuple[float, ...]:
        return self.header.scales

    @property
    def offsets(self) -> tuple[float, ...]:
        return self.header.offsets

    @property
    def descriptions(self) -> tuple[str | None, ...]:
        return tuple(d or None for d in self.header.descriptions)

    def overview_transform(self, overview_level: int | None) -> Affine:
        """The transform of ``overview_level`` (like ``rasterio.open(..., overview_level=k)``)."""
        layout = self._layout(overview_level)
        return self.transform @ Affine.scale(self.width / layout.width, self.height / layout.height)

    # --- reads ------------------------------------------------------------------------------

    def read(
        self,
        indexes: int | Sequence[int] | None = None,
        window: WindowLike = None,
        overview_level: int | None = None,
        *,
        masked: bool = False,
    ) -> np.ndarray:
        """Pixels like ``rasterio``'s ``read`` (see the module docstring)."""
        return run_sync(self.read_async(indexes, window, overview_level, masked=masked))

    def read_masks(
        self,
        indexes: int | Sequence[int] | None = None,
        window: WindowLike = None,
        overview_level: int | None = None,
    ) -> np.ndarray:
        """Validity masks (0 = nodata, 255 = valid) like ``rasterio``'s ``read_masks``."""
        return run_sync(self.read_masks_async(indexes, window, overview_level))

    async def read_async(
        self,
        indexes: int | Sequence[int] | None = None,
        window: WindowLike = None,
        overview_level: int | None = None,
        *,
        masked: bool = False,
    ) -> np.ndarray:
        """:meth:`read` for use inside an event loop."""
        bands, squeeze = self._bands(indexes)
        layout = self._layout(overview_level)
        win = _Window(window, layout.height, layout.width)
        data = win.sample(await self._pixels(layout, bands, win))
        if masked:
            masks = win.sample(await self._masks(overview_level, layout, bands, win, data))
            data = np.ma.masked_array(data, mask=masks == 0)
        return data[0] if squeeze else data

    async def read_masks_async(
        self,
        indexes: int | Sequence[int] | None = None,
        window: WindowLike = None,
        overview_level: int | None = None,
    ) -> np.ndarray:
        """:meth:`read_masks` for use inside an event loop."""
        bands, squeeze = self._bands(indexes)
        layout = self._layout(overview_level)
        win = _Window(window, layout.height, layout.width)
        masks = win.sample(await self._masks(overview_level, layout, bands, win, None))
        return masks[0] if squeeze else masks

    # --- internals --------------------------------------------------------------------------

    def _bands(self, indexes: int | Sequence[int] | None) -> tuple[list[int], bool]:
        if indexes is None:
            return list(range(self.count)), False
        squeeze = isinstance(indexes, int | np.integer)
        wanted = [indexes] if squeeze else list(indexes)  # type: ignore[list-item]
        bands = []
        for idx in wanted:
            if not isinstance(idx, int | np.integer) or not 1 <= int(idx) <= self.count:
                raise BandNotFoundError(
                    f"band index {idx!r} is out of range for {redact_url(self.source)}: "
                    f"indexes are 1-based, valid: {list(self.indexes)}"
                )
            bands.append(int(idx) - 1)
        return bands, squeeze

    def _layout(self, overview_level: int | None) -> ImageLayout:
        if overview_level is None:
            return self.header.full
        images = self.header.images
        if not isinstance(overview_level, int | np.integer) or not (
            0 <= overview_level < len(images) - 1
        ):
            raise ReadArgumentError(
                f"overview_level {overview_level!r} does not exist in "
                f"{redact_url(self.source)}: it has {len(images) - 1} overview(s) "
                f"{self.overviews}; valid levels: 0..{len(images) - 2}"
            )
        return images[int(overview_level) + 1]

    def _fill(self) -> float | int:
        nodata = self.nodata
        if nodata is None:
            return 0
        dtype = self.dtype
        if dtype.kind in "ui":
            info = np.iinfo(dtype)
            if not (math.isfinite(nodata) and info.min <= nodata <= info.max):
                return 0
            return int(nodata)
        return nodata

    async def _fetch(self, items: list[tuple[BlockRef, Sink]]) -> None:
        if items:
            await fetch_blocks(items, backend=self.backend)

    async def _pixels(self, layout: ImageLayout, bands: list[int], win: _Window) -> np.ndarray:
        out = np.empty((len(bands), win.height, win.width), dtype=self.dtype)
        items = window_items(
            self.source,
            layout,
            bands,
            win.row_off,
            win.col_off,
            out,
            etag=self.header.etag,
            fill=self._fill(),
        )
        await self._fetch(items)
        return out

    async def _masks(
        self,
        overview_level: int | None,
        layout: ImageLayout,
        bands: list[int],
        win: _Window,
        data: np.ndarray | None,
    ) -> np.ndarray:
        shape = (len(bands), win.height, win.width)
        level = 0 if overview_level is None else int(overview_level) + 1
        mask_layout = self.header.masks[level] if level < len(self.header.masks) else None
        if mask_layout is not None:
            single = np.empty((1, win.height, win.width), dtype=np.uint8)
            items = window_items(
                self.source, mask_layout, [0], win.row_off, win.col_off, single,
                fill=0, transform=_one_bit_mask if mask_layout.bits_per_sample == 1 else None,
            )  # fmt: skip
            await self._fetch(items)
            return np.broadcast_to(single, shape).copy()
        if self.nodata is not None:
            if data is None or not win.exact:
                data = await self._pixels(layout, bands, win)
            return np.where(_is_nodata(data, self.nodata), 0, 255).astype(np.uint8)
        alpha = self._alpha_band()
        if alpha is not None:
            values = (await self._pixels(layout, [alpha], win))[0]
            masks = np.empty(shape, dtype=np.uint8)
            for i, band in enumerate(bands):
                masks[i] = 255 if band == alpha else values
            return masks
        return np.full(shape, 255, dtype=np.uint8)

    def _alpha_band(self) -> int | None:
        full = self.header.full
        extra = full.extra_samples
        if not extra or self.dtype != np.uint8:
            return None
        first_extra = full.samples_per_pixel - len(extra)
        for i, kind in enumerate(extra):
            if kind in _ALPHA:
                return first_extra + i
        return None


def _one_bit_mask(block: np.ndarray) -> np.ndarray:
    """GDAL reads a 1-bit mask as 0/255 (8-bit masks are used as stored)."""
    return block * np.uint8(255)


def _is_nodata(data: np.ndarray, nodata: float) -> np.ndarray:
    if math.isnan(nodata):
        return np.isnan(data) if data.dtype.kind == "f" else np.zeros(data.shape, bool)
    if data.dtype.kind in "ui":
        info = np.iinfo(data.dtype)
        if not (info.min <= nodata <= info.max) or nodata != int(nodata):
            return np.zeros(data.shape, bool)
        return data == data.dtype.type(int(nodata))
    return data == data.dtype.type(nodata)
