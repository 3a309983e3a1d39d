"""AOI masks and nodata fill, with ``rasterio.mask.mask(crop=True, filled=True)`` semantics.

Pixels outside the geometry (``rasterio.features.geometry_mask`` with ``all_touched``), pixels
under a file's internal mask and pixels equal to nodata all end up as the fill value: the band's
nodata, or 0 when it has none, in the band's own dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from rasterio.features import geometry_mask

from rasteret.read.grid import Grid
from rasteret.read.serial import rasterio_lock


def fill_value(dtype: np.dtype, nodata: float | None) -> float | int:
    """The value outside pixels get: nodata when set (and representable), else 0."""
    dtype = np.dtype(dtype)
    if nodata is None:
        return 0
    if dtype.kind == "f":
        return float(nodata)
    if np.isnan(nodata):
        return 0
    info = np.iinfo(dtype)
    if not (info.min <= nodata <= info.max):
        return 0
    return int(nodata)


def aoi_mask(geom: shapely.Geometry, grid: Grid, all_touched: bool) -> np.ndarray | None:
    """Where a pixel of ``grid`` belongs to ``geom``; None when every pixel does.

    The rasterisation is skipped when ``geom`` contains every pixel centre with a quarter-pixel
    margin: both of rasterio's rules then keep every pixel (a centre inside the polygon is
    burnt, and a pixel whose centre is inside is touched).
    """
    if covers_centres(geom, grid):
        return None
    return inside_mask([geom], grid, all_touched)


def covers_centres(geom: shapely.Geometry, grid: Grid) -> bool:
    """True when ``geom`` contains the box through ``grid``'s outermost pixel centres, grown
    by a quarter pixel (so no centre lies on or near the geometry's boundary)."""
    t = grid.transform
    if t.b or t.d or grid.width == 0 or grid.height == 0:
        return False
    xs = (t.c + 0.25 * t.a, t.c + (grid.width - 0.25) * t.a)
    ys = (t.f + 0.25 * t.e, t.f + (grid.height - 0.25) * t.e)
    box = shapely.box(min(xs), min(ys), max(xs), max(ys))
    return bool(shapely.contains(geom, box))


def inside_mask(geoms: Sequence[shapely.Geometry], grid: Grid, all_touched: bool) -> np.ndarray:
    """True where a pixel of ``grid`` belongs to the geometries (rasterio's rasterization)."""
    with rasterio_lock:
        return geometry_mask(
            list(geoms),
            out_shape=grid.shape,
            transform=grid.transform,
            all_touched=all_touched,
            invert=True,
        )


def apply_fill(array: np.ndarray, keep: np.ndarray | None, fill: float | int) -> None:
    """Set ``array`` (2-D) to ``fill`` wherever ``keep`` is False, in place."""
    if keep is not None and not keep.all():
        array[~keep] = fill


def nodata_pixels(array: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """Where ``array`` equals nodata (NaN-aware), or None when there is no nodata."""
    if nodata is None:
        return None
    if np.isnan(nodata):
        return np.isnan(array) if array.dtype.kind == "f" else None
    return (
        array == np.asarray(nodata).astype(array.dtype)
        if _representable(array.dtype, nodata)
        else None
    )


def _representable(dtype: np.dtype, value: float) -> bool:
    if dtype.kind == "f":
        return True
    info = np.iinfo(dtype)
    return info.min <= value <= info.max and float(value).is_integer()
