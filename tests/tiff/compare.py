"""Compare a rasteret GeoTiff with rasterio reading the same file: metadata, windows, masks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from rasterio.windows import Window

from rasteret.tiff import GeoTiff


def assert_same_pixels(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != rasterio {ref.shape}"
    if np.dtype(ours.dtype) == np.float16:
        assert ref.dtype == np.float32, what
        ours = ours.astype(np.float32)
    else:
        assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != rasterio {ref.dtype}"
    if ref.dtype.kind == "f":
        equal = (ours == ref) | (np.isnan(ours) & np.isnan(ref))
    else:
        equal = ours == ref
    if not equal.all():
        diff = np.argwhere(~equal)
        first = tuple(int(v) for v in diff[0])
        raise AssertionError(
            f"{what}: {len(diff)} pixels differ from rasterio, first at {first}: "
            f"ours={ours[first]!r} rasterio={ref[first]!r}"
        )


def random_windows(width: int, height: int, seed: int, n: int = 3) -> list[Window]:
    rng = np.random.default_rng(seed)
    wins = []
    for _ in range(n):
        col = int(rng.integers(0, width))
        row = int(rng.integers(0, height))
        w = int(rng.integers(1, width - col + 1))
        h = int(rng.integers(1, height - row + 1))
        wins.append(Window(col, row, w, h))
    wins.append(Window(-3, height - 5, 20, 30))  # crosses two edges: cropped like rasterio
    return wins


def assert_same_georef(ours: GeoTiff, ref: Any) -> None:
    if ref.crs is None:
        assert ours.crs is None
    else:
        expected = pyproj.CRS.from_wkt(ref.crs.to_wkt())
        assert ours.crs is not None and expected.equals(ours.crs), (
            f"CRS {ours.crs!r} != rasterio {expected!r}"
        )
    assert tuple(ours.transform)[:6] == pytest_approx_tuple(tuple(ref.transform)[:6])
    if ref.nodata is None:
        assert ours.nodata is None
    elif math.isnan(ref.nodata):
        assert ours.nodata is not None and math.isnan(ours.nodata)
    else:
        assert ours.nodata == ref.nodata


def pytest_approx_tuple(values: tuple[float, ...]) -> Any:
    import pytest

    return pytest.approx(values, rel=1e-12, abs=1e-9)


def compare_with_rasterio(tif: GeoTiff, path: Path, seed: int, *, masks: bool = True) -> None:
    """Everything rasterio reports about ``path`` equals what ``tif`` reports and reads."""
    with rasterio.open(path) as ref:
        assert (tif.width, tif.height, tif.count) == (ref.width, ref.height, ref.count)
        assert tif.block_shapes == ref.block_shapes
        assert_same_georef(tif, ref)
        levels = len(ref.overviews(1))
        assert len(tif.overviews) == levels, f"overviews {tif.overviews} vs {ref.overviews(1)}"
        assert_same_pixels(tif.read(), ref.read(), "full read")
        if masks:
            assert_same_pixels(tif.read_masks(), ref.read_masks(), "full masks")
        for i, win in enumerate(random_windows(ref.width, ref.height, seed)):
            assert_same_pixels(tif.read(window=win), ref.read(window=win), f"window {win}")
            if masks and i == 0:
                got, want = tif.read_masks(window=win), ref.read_masks(window=win)
                assert_same_pixels(got, want, f"masks {win}")
        last = ref.count
        assert_same_pixels(tif.read(last), ref.read(last), f"band {last}")
        order = list(range(ref.count, 0, -1))
        win = random_windows(ref.width, ref.height, seed + 1, n=1)[0]
        assert_same_pixels(
            tif.read(order, window=win), ref.read(order, window=win), f"bands {order} {win}"
        )
    for level in range(levels):
        with rasterio.open(path, overview_level=level) as ovr:
            assert tif.overviews[level] == (ovr.width, ovr.height)
            assert tuple(tif.overview_transform(level)) == pytest_approx_tuple(tuple(ovr.transform))
            what = f"overview {level}"
            assert_same_pixels(tif.read(overview_level=level), ovr.read(), what)
            win = random_windows(ovr.width, ovr.height, seed + level, n=1)[0]
            assert_same_pixels(
                tif.read(window=win, overview_level=level), ovr.read(window=win), f"{what} {win}"
            )
            if masks:
                got = tif.read_masks(overview_level=level)
                assert_same_pixels(got, ovr.read_masks(), f"{what} masks")
