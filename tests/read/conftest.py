"""Fixtures for read tests: small COGs written by rasterio, served by nginx (and moto), and
RecordRefs built from headers parsed at setup time (so reads need no header request).

Ground truth is always rasterio reading the local copy of the same bytes.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rasteret.io import Backend, run_sync
from rasteret.records import BandRef, RecordRef
from rasteret.tiff import read_header
from rasteret.tiff.cache import clear_block_cache

BUCKET = "read-tests"


@pytest.fixture(autouse=True)
def _empty_block_cache() -> None:
    """Each test starts with an empty cache of decoded blocks, so request counts are its own."""
    clear_block_cache()


CRS = "EPSG:32633"
ORIGIN = (500000.0, 5000000.0)
RES = 10.0


@dataclass(frozen=True)
class Cog:
    """A file of the test data set: local path (for rasterio) and URL (for rasteret)."""

    name: str
    path: Path
    url: str


def make_array(
    dtype: str, shape: tuple[int, ...], seed: int, nodata: float | None = None
) -> np.ndarray:
    """Random pixels with some nodata / NaN sprinkled in."""
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind == "f":
        arr = rng.normal(100, 30, shape).astype(dtype)
        arr[rng.random(shape) < 0.03] = np.nan
    else:
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -3000), min(info.max, 3000)
        arr = rng.integers(lo, hi, shape, endpoint=True).astype(dtype)
    if nodata is not None and not np.isnan(nodata):
        arr[rng.random(shape) < 0.03] = nodata
    return arr


def write_cog(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None = None,
    crs: str = CRS,
    origin: tuple[float, float] = ORIGIN,
    res: float = RES,
    blocksize: int = 128,
    interleave: str = "pixel",
    overviews: bool = True,
    compress: str = "DEFLATE",
    predictor: str | None = None,
    mask: np.ndarray | None = None,
) -> Path:
    """A COG (GDAL COG driver), or a tiled GTiff with an internal mask when ``mask`` is given."""
    if data.ndim == 2:
        data = data[None]
    count, height, width = data.shape
    profile: dict[str, Any] = dict(
        width=width,
        height=height,
        count=count,
        dtype=data.dtype.name,
        crs=crs,
        transform=from_origin(origin[0], origin[1], res, res),
        nodata=nodata,
        compress=compress,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if mask is not None or interleave == "band":
        # The COG driver of GDAL 3.10 writes pixel-interleaved files only.
        profile.update(driver="GTiff", tiled=True, blockxsize=blocksize, blockysize=blocksize)
        profile["interleave"] = "band" if interleave == "band" else "pixel"
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(data)
                if mask is not None:
                    dst.write_mask(np.where(mask, 255, 0).astype(np.uint8))
        return path
    profile.update(driver="COG", blocksize=blocksize)
    profile["overviews"] = "AUTO" if overviews else "NONE"
    if predictor:
        profile["predictor"] = predictor
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def header_of(url: str, backend: Backend | None = None) -> Any:
    return run_sync(read_header(url, backend=backend))


def make_record(
    record_id: str,
    bands: Mapping[str, tuple[str, int]],
    *,
    when: dt.datetime | None = None,
    backend: Backend | None = None,
    headers: dict[str, Any] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> RecordRef:
    """A RecordRef whose bands point at ``(url, band_index)``, with headers parsed now."""
    cache = headers if headers is not None else {}
    refs = {}
    for name, (url, index) in bands.items():
        if url not in cache:
            cache[url] = header_of(url, backend)
        header = cache[url]
        scale = header.scales[index] if index < len(header.scales) else 1.0
        offset = header.offsets[index] if index < len(header.offsets) else 0.0
        refs[name] = BandRef(url, header, index, header.nodata, scale, offset)
    return RecordRef(
        record_id,
        when or dt.datetime(2024, 1, 1),
        None,
        None,
        refs,
        collection="tests",
        properties=dict(properties or {}),
    )


@pytest.fixture(scope="session")
def served(nginx_server: Any, nginx_root: Path) -> Callable[[str, Path], Cog]:
    """Copy a local file under nginx and return it as a :class:`Cog`."""

    def serve(name: str, path: Path) -> Cog:
        target = nginx_root / BUCKET / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return Cog(name, path, f"{nginx_server.url}/{BUCKET}/{name}")

    return serve


@pytest.fixture(scope="session")
def cogs(tmp_path_factory: pytest.TempPathFactory, served: Callable[[str, Path], Cog]) -> dict:
    """The shared data set: one file per dtype/nodata case, multi-band files, a masked file."""
    root = tmp_path_factory.mktemp("read-cogs")
    shape = (500, 600)
    specs: dict[str, dict[str, Any]] = {
        "u8": dict(dtype="uint8", nodata=None),
        "u8_nd": dict(dtype="uint8", nodata=255),
        "u16": dict(dtype="uint16", nodata=None, predictor="2"),
        "u16_nd": dict(dtype="uint16", nodata=0, predictor="2"),
        "i16_nd": dict(dtype="int16", nodata=-9999),
        "f32": dict(dtype="float32", nodata=None),
        "f32_nan": dict(dtype="float32", nodata=float("nan"), predictor="3"),
    }
    out: dict[str, Cog] = {}
    for i, (name, spec) in enumerate(specs.items()):
        data = make_array(spec["dtype"], shape, seed=i, nodata=spec["nodata"])
        path = write_cog(
            root / f"{name}.tif", data, nodata=spec["nodata"], predictor=spec.get("predictor")
        )
        out[name] = served(f"{name}.tif", path)
    rgb = make_array("uint8", (3, *shape), seed=20)
    out["rgb_pixel"] = served(
        "rgb_pixel.tif", write_cog(root / "rgb_pixel.tif", rgb, interleave="pixel")
    )
    out["rgb_band"] = served(
        "rgb_band.tif", write_cog(root / "rgb_band.tif", rgb, interleave="band")
    )
    masked = make_array("int16", shape, seed=30)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = ((xx - 300) ** 2 + (yy - 250) ** 2) < 200**2
    out["masked"] = served(
        "masked.tif", write_cog(root / "masked.tif", masked, nodata=None, mask=mask)
    )
    return out
