"""The Grid value (CRS + affine + shape) and the window maths every read derives from it.

Windows follow rasterio: :meth:`Grid.geometry_window` is ``rasterio.features.geometry_window``
(floor of the start, ceiling of the stop, clipped to the grid); overview choice follows GDAL's
``GDALBandGetBestOverviewLevel2`` so that ``resolution=`` reads fetch the level GDAL would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS

from rasteret.errors import GeometryError, UnsupportedTiffError
from rasteret.tiff.model import TiffHeader


@dataclass(frozen=True)
class Window:
    """A block of pixels: column/row offset and size (integers)."""

    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def col_stop(self) -> int:
        return self.col_off + self.width

    @property
    def row_stop(self) -> int:
        return self.row_off + self.height

    def clip(self, width: int, height: int) -> Window | None:
        """This window inside a ``width x height`` image, or None when they do not overlap."""
        c0, r0 = max(self.col_off, 0), max(self.row_off, 0)
        c1, r1 = min(self.col_stop, width), min(self.row_stop, height)
        if c1 <= c0 or r1 <= r0:
            return None
        return Window(c0, r0, c1 - c0, r1 - r0)

    def grown(self, margin: int) -> Window:
        return Window(
            self.col_off - margin,
            self.row_off - margin,
            self.width + 2 * margin,
            self.height + 2 * margin,
        )


@dataclass(frozen=True)
class Grid:
    """A raster grid: where each pixel of a ``height x width`` array lies in ``crs``."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def res(self) -> tuple[float, float]:
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        xs = (t.c, t.c + t.a * self.width)
        ys = (t.f, t.f + t.e * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    def window_grid(self, window: Window) -> Grid:
        """The grid of a window of this grid."""
        t = self.transform @ Affine.translation(window.col_off, window.row_off)
        return Grid(self.crs, t, window.width, window.height)

    def resized(self, width: int, height: int) -> Grid:
        """Same extent, another shape (what ``read(out_shape=...)`` returns)."""
        t = self.transform @ Affine.scale(self.width / width, self.height / height)
        return Grid(self.crs, t, width, height)

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates (x of each column, y of each row)."""
        t = self.transform
        cols = np.arange(self.width) + 0.5
        rows = np.arange(self.height) + 0.5
        return t.c + cols * t.a, t.f + rows * t.e

    def geometry_window(self, geoms: Sequence[shapely.Geometry]) -> Window | None:
        """``rasterio.features.geometry_window`` for geometries in this grid's CRS."""
        inv = ~self.transform
        cols: list[float] = []
        rows: list[float] = []
        for geom in geoms:
            xy = shapely.get_coordinates(geom)
            if len(xy) == 0:
                continue
            x, y = xy[:, 0], xy[:, 1]
            px = x * inv.a + y * inv.b + inv.c
            py = x * inv.d + y * inv.e + inv.f
            cols += [float(px.min()), float(px.max())]
            rows += [float(py.min()), float(py.max())]
        if not cols:
            return None
        c0, c1 = math.floor(min(cols)), math.ceil(max(cols))
        r0, r1 = math.floor(min(rows)), math.ceil(max(rows))
        return Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0)).clip(self.width, self.height)

    def bounds_window(self, bounds: tuple[float, float, float, float]) -> Window:
        """The pixels (floor/ceil, unclipped) covering ``bounds`` given in this grid's CRS."""
        inv = ~self.transform
        xs = np.array([bounds[0], bounds[2], bounds[0], bounds[2]])
        ys = np.array([bounds[1], bounds[1], bounds[3], bounds[3]])
        px = xs * inv.a + ys * inv.b + inv.c
        py = xs * inv.d + ys * inv.e + inv.f
        c0, c1 = math.floor(px.min()), math.ceil(px.max())
        r0, r1 = math.floor(py.min()), math.ceil(py.max())
        return Window(c0, r0, c1 - c0, r1 - r0)


def header_grid(header: TiffHeader, level: int = 0) -> Grid:
    """The grid of image ``level`` of a file (0 = full resolution)."""
    full = header.images[0]
    image = header.images[level]
    transform = header.transform
    if transform.b != 0 or transform.d != 0:
        raise UnsupportedTiffError(
            f"{header.source} has a rotated or sheared geotransform; only north-up grids are "
            "supported"
        )
    if level:
        transform = transform @ Affine.scale(full.width / image.width, full.height / image.height)
    return Grid(header.crs, transform, image.width, image.height)


def best_level(
    header: TiffHeader, window: Window, out_width: int, out_height: int, *, nearest: bool
) -> int:
    """The image level GDAL reads for ``window`` (full-res pixels) into ``out_width x out_height``.

    Returns 0 for full resolution, else the index into ``header.images``. Same rule as GDAL: the
    most reduced overview whose factor is below the wanted factor times 1.2 (nearest) or 1.0
    (other resamplings), plus 0.1.
    """
    if out_width >= window.width and out_height >= window.height:
        return 0
    fx = window.width / out_width
    fy = window.height / out_height
    desired = fx if (fx < fy or out_height == 1) else fy
    return _level_for_factor(header, desired, nearest=nearest)


def level_for_resolution(header: TiffHeader, factor: float, *, nearest: bool) -> int:
    """The level for reading at ``factor`` full-resolution pixels per output pixel."""
    if factor <= 1.0:
        return 0
    return _level_for_factor(header, factor, nearest=nearest)


def _level_for_factor(header: TiffHeader, desired: float, *, nearest: bool) -> int:
    threshold = 1.2 if nearest else 1.0
    full = header.images[0]
    best, best_factor = 0, 0.0
    for i, image in enumerate(header.images[1:], start=1):
        if image.width > full.width or image.height > full.height:
            continue
        factor = min(full.width / image.width, full.height / image.height)
        if factor >= desired * threshold + 0.1 or factor <= best_factor:
            continue
        best, best_factor = i, factor
        if abs(desired - factor) < 0.1:
            break
    return best


def level_window(
    header: TiffHeader, level: int, window: Window
) -> tuple[Window, tuple[float, ...]]:
    """GDAL's translation of a full-res window into level ``level``.

    Returns the integer window in the level (as GDAL computes it) and the floating window
    ``(x, y, width, height)`` GDAL resamples from.
    """
    if level == 0:
        return window, (window.col_off, window.row_off, window.width, window.height)
    full, image = header.images[0], header.images[level]
    fx, fy = full.width / image.width, full.height / image.height
    ox = min(image.width - 1, int(window.col_off / fx + 0.5))
    oy = min(image.height - 1, int(window.row_off / fy + 0.5))
    ow = max(1, int(window.width / fx + 0.5))
    oh = max(1, int(window.height / fy + 0.5))
    ow = min(ow, image.width - ox)
    oh = min(oh, image.height - oy)
    floating = (window.col_off / fx, window.row_off / fy, window.width / fx, window.height / fy)
    return Window(ox, oy, ow, oh), floating


def parse_resolution(resolution: float | Sequence[float] | None) -> tuple[float, float] | None:
    """``resolution=`` as (x, y) pixel sizes, validated."""
    if resolution is None:
        return None
    if isinstance(resolution, int | float):
        pair = (float(resolution), float(resolution))
    else:
        values = tuple(float(v) for v in resolution)
        if len(values) != 2:
            raise GeometryError(f"resolution= must be a number or (x, y), got {resolution!r}")
        pair = (values[0], values[1])
    if not all(math.isfinite(v) and v > 0 for v in pair):
        raise GeometryError(f"resolution= must be positive, got {resolution!r}")
    return pair


def snapped_grid(
    bounds: tuple[float, float, float, float], crs: CRS, res: tuple[float, float]
) -> Grid:
    """A north-up grid of pixel size ``res`` whose edges are multiples of ``res`` (like -tap).

    Every record read onto the grid of one AOI lands on the same pixels, so time series stack.
    """
    rx, ry = res
    minx = math.floor(bounds[0] / rx) * rx
    maxx = math.ceil(bounds[2] / rx) * rx
    miny = math.floor(bounds[1] / ry) * ry
    maxy = math.ceil(bounds[3] / ry) * ry
    width = max(1, int(round((maxx - minx) / rx)))
    height = max(1, int(round((maxy - miny) / ry)))
    return Grid(crs, Affine(rx, 0.0, minx, 0.0, -ry, maxy), width, height)
