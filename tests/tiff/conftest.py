"""Fixtures of the TIFF tests: the pairwise matrix of GeoTIFFs, written once per session."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from rasteret.tiff.cache import clear_block_cache
from tests.tiff.matrix import Written, pairwise_cases, write_case


@pytest.fixture(autouse=True)
def _empty_block_cache() -> None:
    """Each test starts with an empty cache of decoded blocks, so request counts are its own."""
    clear_block_cache()


CASES = pairwise_cases()


@pytest.fixture(scope="session")
def matrix_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiff-matrix")


@pytest.fixture(scope="session")
def matrix_files(matrix_dir: Path) -> list[Written]:
    """Every matrix case written by rasterio (about 40 MB, ~10 s)."""
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio's NotGeoreferenced / tiling notes
        for i, case in enumerate(CASES):
            written.append(write_case(case, matrix_dir / f"m{i:03d}.tif", seed=i))
    return written
