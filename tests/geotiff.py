"""Small GeoTIFFs for tests, written by rasterio (GDAL): the files and the ground truth that
rasteret's reads are compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

UTM33 = "EPSG:32633"
ORIGIN_10M = Affine(10, 0, 500000, 0, -10, 5000000)  # 10 m pixels, top left at (500000, 5000000)


def noise(
    count: int, height: int, width: int, dtype: str = "uint16", *, seed: int = 0, high: int = 3000
) -> np.ndarray:
    """Reproducible random pixels in ``[0, high)``, shape ``(count, height, width)``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, high, size=(count, height, width)).astype(dtype)


def write_geotiff(
    path: Path,
    data: np.ndarray,
    *,
    driver: str = "GTiff",
    crs: str = UTM33,
    transform: Affine = ORIGIN_10M,
    tile: int | None = None,
    **options: object,
) -> Path:
    """Write ``data`` (``(bands, rows, cols)`` or ``(rows, cols)``) with GDAL creation ``options``;
    ``tile``: square tiles of that size (GTiff driver)."""
    if tile is not None:
        options |= {"tiled": True, "blockxsize": tile, "blockysize": tile}
    bands = data if data.ndim == 3 else data[np.newaxis]
    count, height, width = bands.shape
    with rasterio.open(
        path, "w", driver=driver, width=width, height=height, count=count, dtype=bands.dtype,
        crs=crs, transform=transform, **options,
    ) as dst:  # fmt: skip
        dst.write(bands)
    return path
