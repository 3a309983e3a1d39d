"""Resampling and reprojection of fetched pixels, done by GDAL itself for exact parity.

``resolution=`` reads hand the fetched overview pixels to GDAL's own RasterIO (an in-memory
dataset read with ``out_shape``), so values equal ``rasterio``'s ``read(out_shape=...)`` of the
file. Shared-grid reads go through ``rasterio.warp.reproject``. Only the pixels a result needs,
plus a kernel margin, are ever fetched.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import reproject
from rasterio.windows import Window as RioWindow

from rasteret.errors import ConfigError
from rasteret.read.grid import Grid

# rasterio's reproject / rasterize, run on several threads at once, sometimes warn that an
# in-memory dataset "has no geotransform" although results are exact (checked against serial
# runs): these calls always pass a transform, so the warning is noise there and only there.
for _module in (r"rasterio\.warp", r"rasterio\.features"):
    warnings.filterwarnings(
        "ignore",
        message="Dataset has no geotransform",
        category=NotGeoreferencedWarning,
        module=_module,
    )

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
    window: tuple[float, float, float, float],
    out_shape: tuple[int, int],
    resampling: Resampling,
    fill: float | int,
) -> np.ndarray:
    """GDAL RasterIO of the floating ``window`` of ``src`` into ``out_shape``, masked values
    (nodata, internal mask) set to ``fill``."""
    height, width = src.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            "rasteret-resample",
            "w+",
            driver="MEM",
            width=width,
            height=height,
            count=1,
            dtype=src.dtype,
            nodata=nodata,
            transform=Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0),
        ) as mem:
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
) -> np.ndarray:
    """``rasterio.warp.reproject`` of ``src`` (on ``src_grid``) onto ``dst_grid``."""
    dst = np.full(dst_grid.shape, fill, dtype=src.dtype)
    source: np.ndarray = src
    if src_mask is not None and not src_mask.all():
        source = np.ma.MaskedArray(src, mask=~src_mask)
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
        num_threads=1,
    )
    return dst
