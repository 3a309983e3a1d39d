"""Shared data for the server self-tests: one small tiled, compressed GeoTIFF written by rasterio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.servers._proc import RUN_DIR, port_open


@pytest.fixture(scope="session")
def cog_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600x520 uint16 DEFLATE GeoTIFF with 256x256 tiles (so reads span several tiles)."""
    path = tmp_path_factory.mktemp("selftest-data") / "cog.tif"
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4000, size=(520, 600), dtype="uint16")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=600,
        height=520,
        count=1,
        dtype="uint16",
        crs="EPSG:32633",
        transform=from_origin(500000, 5000000, 10, 10),
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
    ) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture(scope="session")
def cog_pixels(cog_path: Path) -> np.ndarray:
    """Ground truth: rasterio reading the local file."""
    with rasterio.open(cog_path) as src:
        return src.read(1)


def assert_stopped(pid: int, port: int, name: str) -> None:
    """The process is gone, its PID file removed and its port closed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"{name} process {pid} still running after stop")
    assert not (RUN_DIR / f"{name}-{pid}.pid").exists()
    assert not port_open(port)
