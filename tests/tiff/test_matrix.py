"""Every matrix file reads like rasterio: metadata, random windows, bands, overviews, masks."""

from __future__ import annotations

import pytest

from rasteret.tiff import open_geotiff
from tests.tiff.compare import compare_with_rasterio
from tests.tiff.conftest import CASES
from tests.tiff.matrix import AXES, Written, case_id


def test_matrix_covers_every_axis_value() -> None:
    for name, values in AXES.items():
        seen = {repr(case[name]) for case in CASES}
        assert seen == {repr(v) for v in values}, f"axis {name} misses {values}"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case_id(c) for c in CASES])
def test_matrix_file_reads_like_rasterio(index: int, matrix_files: list[Written]) -> None:
    written = matrix_files[index]
    tif = open_geotiff(str(written.path))
    compare_with_rasterio(tif, written.path, seed=index)
