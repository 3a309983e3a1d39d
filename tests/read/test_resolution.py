"""resolution= reads equal rasterio read(out_shape=...) (overview chosen like GDAL), and the
shared target_crs grid equals rasterio.warp.reproject onto that grid."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import geometry_mask, geometry_window
from rasterio.warp import reproject
from shapely.geometry import mapping

from rasteret.read import get_numpy, get_xarray
from tests.read.conftest import make_record
from tests.read.test_aoi_parity import AOIS


def fill_of(src):
    return src.nodata if src.nodata is not None else 0


def expected_resampled(path, geom, res, resampling, all_touched=False):
    """rasterio: the AOI window read with out_shape = window size * 10 m / res, then masked."""
    with rasterio.open(path) as src:
        win = geometry_window(src, [mapping(geom)])
        out_h = max(1, round(win.height * src.res[1] / res))
        out_w = max(1, round(win.width * src.res[0] / res))
        data = src.read(
            1, window=win, out_shape=(out_h, out_w), resampling=resampling, masked=True
        ).filled(fill_of(src))
        transform = src.window_transform(win) @ Affine.scale(win.width / out_w, win.height / out_h)
        inside = geometry_mask(
            [mapping(geom)], (out_h, out_w), transform, invert=True, all_touched=all_touched
        )
        data[~inside] = fill_of(src)
    return data


@pytest.mark.parametrize("res", [13.0, 20.0, 25.0, 40.0, 85.0])
@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("name", ["u16", "u16_nd", "f32_nan"])
def test_resolution_equals_rasterio_out_shape(cogs, name, resampling, res):
    cog = cogs[name]
    record = make_record("r1", {"b": (cog.url, 0)})
    aoi = AOIS["polygon"]
    got = get_numpy([record], aoi, "b", geometry_crs=32633, resolution=res, resampling=resampling)
    want = expected_resampled(cog.path, aoi, res, Resampling[resampling])
    assert got.shape == (1, *want.shape)
    np.testing.assert_array_equal(got[0], want)


def test_resolution_fetches_the_overview_not_full_resolution(cogs, nginx_server):
    cog = cogs["u16"]
    record = make_record("r1", {"b": (cog.url, 0)})
    layouts = record.bands["b"].header.images
    mark = nginx_server.mark()
    get_numpy([record], AOIS["polygon"], "b", geometry_crs=32633, resolution=40.0)
    ranges = [r for r in nginx_server.requests(since=mark) if r["path"].endswith(cog.name)]
    assert ranges
    ovr = layouts[2]  # factor 4
    ovr_bytes = {
        (int(o), int(o) + int(c)) for o, c in zip(ovr.offsets, ovr.byte_counts, strict=True)
    }
    lo = min(s for s, _ in ovr_bytes)
    hi = max(e for _, e in ovr_bytes)
    for r in ranges:
        start, end = (int(v) for v in r["range"].removeprefix("bytes=").split("-"))
        assert lo <= start and end < hi, "a byte outside the 4x overview was requested"


def shared_grid(geom, res):
    minx, miny, maxx, maxy = geom.bounds
    minx, maxx = math.floor(minx / res) * res, math.ceil(maxx / res) * res
    miny, maxy = math.floor(miny / res) * res, math.ceil(maxy / res) * res
    transform = Affine(res, 0, minx, 0, -res, maxy)
    return transform, (round((maxy - miny) / res), round((maxx - minx) / res))


def expected_warp(path, geom, dst_crs, res, resampling, overview_level=None):
    with rasterio.open(path, overview_level=overview_level) as src:
        data = src.read(1)
        fill = fill_of(src)
        transform, shape = shared_grid(geom, res)
        dst = np.full(shape, fill, dtype=data.dtype)
        reproject(
            source=data,
            destination=dst,
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=src.nodata,
            dst_transform=transform,
            dst_crs=dst_crs,
            dst_nodata=src.nodata,
            resampling=resampling,
        )
    inside = geometry_mask([mapping(geom)], shape, transform, invert=True)
    dst[~inside] = fill
    return dst, transform


# An AOI given in Web Mercator (EPSG:3857) that lies inside the rasters.
AOI_3857 = shapely.Polygon(
    [(1671000.3, 5645200.7), (1673900.1, 5645050.2), (1673700.9, 5642400.4), (1671300.6, 5642600.8)]
)


@pytest.mark.parametrize(
    "res,level",
    [(14.0, None), (30.0, 0)],  # 10 m UTM is ~14.1 m in 3857 here; 30 m -> the 2x overview
)
@pytest.mark.parametrize("name,resampling", [("u16_nd", "nearest"), ("f32_nan", "bilinear")])
def test_shared_grid_equals_reproject(cogs, name, resampling, res, level):
    cog = cogs[name]
    record = make_record("r1", {"b": (cog.url, 0)})
    got = get_numpy(
        [record],
        AOI_3857,
        "b",
        geometry_crs=3857,
        target_crs=3857,
        resolution=res,
        resampling=resampling,
    )
    want, _ = expected_warp(cog.path, AOI_3857, "EPSG:3857", res, Resampling[resampling], level)
    assert got.shape == (1, *want.shape)
    np.testing.assert_array_equal(got[0], want)


def test_records_in_two_utm_zones_stack_on_one_grid(cogs, tmp_path, served):
    """The same place stored in zones 33 and 34 lands on one snapped grid per AOI."""
    from tests.read.conftest import make_array, write_cog

    # A raster in UTM 34N covering the same ground as the zone-33 rasters' west part.
    data = make_array("uint16", (300, 300), seed=77)
    path = write_cog(
        tmp_path / "z34.tif", data, crs="EPSG:32634", origin=(27000.0, 5019000.0), res=20.0
    )
    z34 = served("z34.tif", path)
    r33 = make_record("r33", {"b": (cogs["u16"].url, 0)})
    r34 = make_record("r34", {"b": (z34.url, 0)})
    aoi = shapely.Polygon(
        [(500333.3, 4999777.7), (501777.7, 4999555.5), (501911.1, 4998222.2), (500511.1, 4998366.6)]
    )
    got = get_numpy([r33, r34], aoi, "b", geometry_crs=32633, target_crs=32633, resolution=10.0)
    assert got.shape[0] == 2
    want33, _ = expected_warp(cogs["u16"].path, aoi, "EPSG:32633", 10.0, Resampling.nearest)
    want34, _ = expected_warp(path, aoi, "EPSG:32633", 10.0, Resampling.nearest)
    np.testing.assert_array_equal(got[0], want33)
    np.testing.assert_array_equal(got[1], want34)
    assert (want34 != 0).sum() > 1000  # zone 34 really covers the AOI


def test_xarray_puts_several_crs_on_the_majority_grid(cogs, tmp_path, served):
    from tests.read.conftest import make_array, write_cog

    data = make_array("uint16", (300, 300), seed=78)
    path = write_cog(
        tmp_path / "z34b.tif", data, crs="EPSG:32634", origin=(27000.0, 5019000.0), res=20.0
    )
    z34 = served("z34b.tif", path)
    import datetime as dt

    records = [
        make_record("a", {"b": (cogs["u16"].url, 0)}, when=dt.datetime(2024, 1, 1)),
        make_record("b", {"b": (cogs["u16_nd"].url, 0)}, when=dt.datetime(2024, 1, 2)),
        make_record("c", {"b": (z34.url, 0)}, when=dt.datetime(2024, 1, 3)),
    ]
    aoi = shapely.box(500300.0, 4998300.0, 501700.0, 4999700.0)
    with pytest.warns(RuntimeWarning, match="most common"):
        ds = get_xarray(records, aoi, ["b"], geometry_crs=32633)
    assert ds["b"].dims == ("time", "y", "x")
    assert ds.sizes["time"] == 3
    assert ds.attrs["crs"] == "EPSG:32633"
    with rasterio.open(cogs["u16"].path) as src:
        direct = src.read(1, window=src.window(*aoi.bounds))
    np.testing.assert_array_equal(ds["b"].isel(time=0).values, direct)


def test_masked_file_at_another_resolution(cogs):
    cog = cogs["masked"]
    record = make_record("r1", {"b": (cog.url, 0)})
    aoi = AOIS["over_top_left"].union(AOIS["polygon"]).envelope
    got = get_numpy([record], aoi, "b", geometry_crs=32633, resolution=20.0)
    want = expected_resampled(cog.path, aoi, 20.0, Resampling.nearest)
    assert (want == 0).sum() > 100  # the internal mask shows
    np.testing.assert_array_equal(got[0], want)


def test_masked_file_on_a_shared_grid(cogs):
    cog = cogs["masked"]
    record = make_record("r1", {"b": (cog.url, 0)})
    got = get_numpy([record], AOI_3857, "b", geometry_crs=3857, target_crs=3857, resolution=14.0)
    with rasterio.open(cog.path) as src:
        data = src.read(1, masked=True)
        transform, shape = shared_grid(AOI_3857, 14.0)
        dst = np.zeros(shape, dtype=data.dtype)
        reproject(
            source=data,
            destination=dst,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs="EPSG:3857",
            resampling=Resampling.nearest,
        )
    inside = geometry_mask([mapping(AOI_3857)], shape, transform, invert=True)
    dst[~inside] = 0
    assert (dst[inside] == 0).sum() > 100
    np.testing.assert_array_equal(got[0], dst)


def test_reads_raise_no_not_georeferenced_warning(cogs):
    """Every in-memory dataset a read makes carries its real georeferencing."""
    record = make_record("r", {"b": (cogs["masked"].url, 0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotGeoreferencedWarning)
        get_numpy([record], AOIS["polygon"], "b", geometry_crs=32633, resolution=25.0)
        get_numpy([record], AOIS["polygon"], "b", geometry_crs=32633, target_crs=3857)
        get_numpy([record], AOIS["polygon"], "b", geometry_crs=32633, all_touched=True)
