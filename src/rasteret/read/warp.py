"""Resampling and reprojection of fetched pixels, done by GDAL itself for exact parity.

``resolution=`` reads hand the fetched overview pixels to GDAL's own RasterIO (an in-memory
dataset read with ``out_shape``), so values equal ``rasterio``'s ``read(out_shape=...)`` of the
file. Shared-grid reads go through ``rasterio.warp.reproject``. Only the pixels a result needs,
plus a kernel margin, are ever fetched.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window as RioWindow

from rasteret.errors import ConfigError
from rasteret.read.grid import Grid
from rasteret.read.serial import rasterio_lock

# Kernel radius (in output pixels) of each resampling, for the fetch margin.
_RADIUS = {
    Resampling.nearest: 1,
    Resampling.bilinear: 1,
    Resampling.cubic: 2,
    Resampling.cubic_spline: 2,
    Resampling.lanczos: 3,
}


def parse_resampling(value: Any, dtype: np.dtype) -> Resampling:
    """``resampling=`` as a rasterio enum; default nearest for integers, bilinear for floats."""
    if value is None:
        return Resampling.bilinear if np.dtype(dtype).kind == "f" else Resampling.nearest
    if isinstance(value, Resampling):
        return value
    if isinstance(value, str):
        try:
            return Resampling[value.lower()]
        except KeyError:
            pass
    names = [r.name for r in Resampling if r.value <= 13]
    raise ConfigError(f"resampling={value!r} is not known; use one of {names}")


def margin(resampling: Resampling, factor: float) -> int:
    """Source pixels to fetch around a window so a kernel never runs out of data."""
    radius = _RADIUS.get(resampling, 1)
    return int(math.ceil(radius * max(1.0, factor))) + 2


def resample(
    src: np.ndarray,
    src_mask: np.ndarray | None,
    nodata: float | None,
    src_grid: Grid,
    window: tuple[float, float, float, float],
    out_shape: tuple[int, int],
    resampling: Resampling,
    fill: float | int,
) -> np.ndarray:
    """GDAL RasterIO of the floating ``window`` of ``src`` (whose pixels lie on ``src_grid``)
    into ``out_shape``, masked values (nodata, internal mask) set to ``fill``. The in-memory
    dataset carries the real georeferencing, so rasterio has no reason to warn that it lacks
    one; RasterIO itself works in pixel space."""
    height, width = src.shape
    with (
        rasterio_lock,
        rasterio.open(
            "rasteret-resample",
            "w+",
            driver="MEM",
            width=width,
            height=height,
            count=1,
            dtype=src.dtype,
            nodata=nodata,
            crs=src_grid.crs,
            transform=src_grid.transform,
        ) as mem,
    ):
        mem.write(src, 1)
        if src_mask is not None:
            mem.write_mask(src_mask.astype(np.uint8) * 255)
        out = mem.read(
            1,
            window=RioWindow(*window),
            out_shape=out_shape,
            resampling=resampling,
            masked=True,
        )
    return np.ma.filled(out, fill)


def reproject_to(
    src: np.ndarray,
    src_mask: np.ndarray | None,
    src_grid: Grid,
    nodata: float | None,
    dst_grid: Grid,
    resampling: Resampling,
    fill: float | int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``rasterio.warp.reproject`` of ``src`` (on ``src_grid``) onto ``dst_grid``, into ``out``
    when given (pixels no source pixel reaches get ``fill``)."""
    if out is None:
        dst = np.full(dst_grid.shape, fill, dtype=src.dtype)
    else:
        dst = out
        dst[...] = fill
    source: np.ndarray = src
    if src_mask is not None and not src_mask.all():
        source = np.ma.MaskedArray(src, mask=~src_mask)
    with rasterio_lock:
        reproject(
            source=source,
            destination=dst,
            src_transform=src_grid.transform,
            src_crs=src_grid.crs,
            src_nodata=nodata,
            dst_transform=dst_grid.transform,
            dst_crs=dst_grid.crs,
            dst_nodata=nodata,
            resampling=resampling,
            num_threads=os.cpu_count() or 1,  # GDAL threads: the lock serialises Python only
        )
    return dst
