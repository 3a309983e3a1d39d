"""AOI reads equal rasterio.mask.mask(crop=True, filled=True) on the same files (via nginx)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely
import shapely.affinity
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping

from rasteret.read import get_gdf, get_numpy
from tests.read.conftest import make_record

# The rasters span x 500000..506000, y 4995000..5000000 (EPSG:32633, 10 m, 128 px tiles).
AOIS = {
    "polygon": shapely.Polygon(
        [(500333.3, 4999777.7), (502777.7, 4999555.5), (503111.1, 4997222.2), (501111.1, 4996666.6)]
    ),
    "multipolygon": shapely.MultiPolygon(
        [
            shapely.Polygon([(500205.5, 4999805.5), (500901.1, 4999702.2), (500403.3, 4999003.3)]),
            shapely.Polygon([(504004.4, 4996004.4), (505507.7, 4996302.2), (504806.6, 4995404.4)]),
        ]
    ),
    "over_top_left": box(499800.5, 4998700.3, 501290.7, 5000300.9),
    "over_bottom_right": box(505101.2, 4994555.5, 506444.4, 4995901.1),
    "pixel_aligned": box(500100.0, 4998000.0, 501300.0, 4999000.0),
    "tiny": box(501003.0, 4998003.0, 501004.0, 4998004.0),
    # the AOI covers every pixel of its window: the mask is skipped, pixels must still match
    "whole_raster": box(500000.0, 4995000.0, 506000.0, 5000000.0),
    "inset_under_half_pixel": box(500003.0, 4995004.9, 505995.1, 4999997.0),
    # edges on pixel centres, and a sliver of pixels along a window edge
    "edges_on_centres": box(500105.0, 4998005.0, 501295.0, 4999995.0),
    "rotated_square": shapely.affinity.rotate(box(501000.0, 4997000.0, 502000.0, 4998000.0), 45),
    "with_hole": shapely.Polygon(
        [
            (502000.5, 4998000.5),
            (503500.5, 4998000.5),
            (503500.5, 4996500.5),
            (502000.5, 4996500.5),
        ],
        holes=[[(502500.2, 4997500.2), (503000.2, 4997500.2), (503000.2, 4997000.2)]],
    ),
}
DTYPES = ["u8", "u8_nd", "u16", "u16_nd", "i16_nd", "f32", "f32_nan"]


def expected_mask(path, geom, all_touched, indexes=1):
    with rasterio.open(path) as src:
        out, transform = rasterio.mask.mask(
            src, [mapping(geom)], crop=True, all_touched=all_touched, filled=True, indexes=indexes
        )
    return out, transform


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # NaN == NaN here


@pytest.mark.parametrize("all_touched", [False, True])
@pytest.mark.parametrize("aoi", sorted(AOIS))
@pytest.mark.parametrize("name", DTYPES)
def test_aoi_equals_rasterio_mask(cogs, name, aoi, all_touched):
    cog = cogs[name]
    record = make_record("r1", {"b": (cog.url, 0)})
    got = get_numpy([record], AOIS[aoi], ["b"], geometry_crs=32633, all_touched=all_touched)
    want, _ = expected_mask(cog.path, AOIS[aoi], all_touched)
    assert got.shape == (1, *want.shape)
    assert_same(got[0], want)


@pytest.mark.parametrize("name,index", [("rgb_pixel", 0), ("rgb_pixel", 2), ("rgb_band", 1)])
def test_multiband_files_through_band_index(cogs, name, index):
    cog = cogs[name]
    record = make_record("r1", {"x": (cog.url, index), "y": (cog.url, 0)})
    assert record.bands["x"].header.full.planar_configuration == (2 if name == "rgb_band" else 1)
    got = get_numpy([record], AOIS["polygon"], ["x", "y"], geometry_crs=32633)
    assert got.shape[:2] == (1, 2)
    want_x, _ = expected_mask(cog.path, AOIS["polygon"], False, indexes=index + 1)
    want_y, _ = expected_mask(cog.path, AOIS["polygon"], False, indexes=1)
    assert_same(got[0, 0], want_x)
    assert_same(got[0, 1], want_y)


@pytest.mark.parametrize("all_touched", [False, True])
def test_internal_mask_pixels_are_nodata(cogs, all_touched):
    cog = cogs["masked"]
    record = make_record("r1", {"b": (cog.url, 0)})
    aoi = AOIS["over_top_left"]
    got = get_numpy([record], aoi, ["b"], geometry_crs=32633, all_touched=all_touched)
    want, _ = expected_mask(cog.path, aoi, all_touched)
    with rasterio.open(cog.path) as src:
        assert src.mask_flag_enums[0][0].name == "per_dataset"
    assert (want == 0).sum() > 100  # the mask really cuts pixels here
    assert_same(got[0], want)


def test_aoi_in_another_crs(cogs):
    cog = cogs["u16_nd"]
    record = make_record("r1", {"b": (cog.url, 0)})
    # A lon/lat quadrilateral (~2 km) inside the raster; default geometry_crs is EPSG:4326.
    lonlat = shapely.Polygon(
        [(15.0071, 45.1404), (15.0301, 45.1391), (15.0273, 45.1242), (15.0102, 45.1251)]
    )
    got = get_numpy([record], lonlat, ["b"])
    projected = shapely.geometry.shape(transform_geom("EPSG:4326", "EPSG:32633", mapping(lonlat)))
    want, _ = expected_mask(cog.path, projected, False)
    assert want.size > 1000
    assert_same(got[0], want)


def test_sparse_blocks_read_as_nodata(tmp_path, served):
    """Pieces decode straight into the output: pixels of sparse (never written) tiles get the
    fill value, like GDAL, though the output is never pre-filled."""
    data = np.arange(256 * 256, dtype="uint16").reshape(256, 256) % 5000 + 1
    data[:128, 128:] = 7  # one whole tile of nodata: GDAL leaves it out of the file
    path = tmp_path / "sparse.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=256, height=256, count=1, dtype="uint16",
        crs="EPSG:32633", transform=rasterio.transform.from_origin(500000, 5000000, 10, 10),
        tiled=True, blockxsize=128, blockysize=128, nodata=7, sparse_ok=True, compress="DEFLATE",
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    cog = served("sparse.tif", path)
    record = make_record("s", {"b": (cog.url, 0)})
    layout = record.bands["b"].header.full
    assert int(layout.byte_counts[1]) == 0  # the top-right tile really is sparse
    for aoi in (AOIS["pixel_aligned"], box(500500.0, 4998000.0, 502000.0, 4999900.0)):
        got = get_numpy([record], aoi, ["b"], geometry_crs=32633)
        want, _ = expected_mask(path, aoi, False)
        assert_same(got[0], want)


def test_stacked_records_and_aois_with_a_failing_record(cogs, tmp_path, served, nginx_root):
    """Equal-shaped pieces of several records and AOIs share one pre-allocated result; a record
    that fails is dropped from it and the others keep their pixels."""
    from tests.read.conftest import BUCKET, make_array, write_cog

    gone = served("stack-gone.tif", write_cog(tmp_path / "g.tif", make_array("u2", (500, 600), 5)))
    names = ["u16", "u16_nd"]
    records = [make_record(n, {"b": (cogs[n].url, 0)}) for n in names[:1]]
    records.append(make_record("gone", {"b": (gone.url, 0)}))
    records.append(make_record(names[1], {"b": (cogs[names[1]].url, 0)}))
    (nginx_root / BUCKET / "stack-gone.tif").unlink()
    aois = [
        box(500100.0, 4998000.0, 501300.0, 4999000.0),
        box(502100.0, 4996000.0, 503300.0, 4997000.0),
    ]
    with pytest.warns(RuntimeWarning, match="'gone'"):
        got, index = get_numpy(records, aois, "b", geometry_crs=32633, return_index=True)
    assert got.shape == (4, 100, 120)
    assert index.column("record_id").to_pylist() == ["u16", "u16", "u16_nd", "u16_nd"]
    for i, (name, aoi) in enumerate([(n, a) for n in names for a in aois]):
        want, _ = expected_mask(cogs[name].path, aoi, False)
        assert_same(got[i], want)


def test_gdf_rows_carry_window_transform(cogs):
    cog = cogs["i16_nd"]
    record = make_record("r1", {"b": (cog.url, 0)})
    aoi = AOIS["polygon"]
    gdf = get_gdf([record], aoi, ["b"], geometry_crs=32633)
    want, transform = expected_mask(cog.path, aoi, False)
    assert len(gdf) == 1
    row = gdf.iloc[0]
    assert row["transform"] == transform
    assert_same(row["data"], want)
    assert row["geometry"].equals(aoi)
    assert row["record_id"] == "r1" and row["band"] == "b" and row["geometry_id"] == 1
