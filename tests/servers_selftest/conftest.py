"""Shared data for the server self-tests: one small tiled, compressed GeoTIFF written by rasterio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.geotiff import noise, write_geotiff
from tests.servers._proc import RUN_DIR, port_open


@pytest.fixture(scope="session")
def cog_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600x520 uint16 DEFLATE GeoTIFF with 256x256 tiles (so reads span several tiles)."""
    path = tmp_path_factory.mktemp("selftest-data") / "cog.tif"
    data = noise(1, 520, 600, seed=7, high=4000)
    write_geotiff(path, data, tile=256, compress="deflate")
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
