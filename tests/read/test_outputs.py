"""Output shapes and metadata: numpy stacks + index, xarray (dims, coords, spatial_ref, combine
modes), GeoDataFrame rows, scale/offset."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely
from pyproj import CRS
from shapely.geometry import mapping

from rasteret.errors import ConfigError, GeometryError, ReadError
from rasteret.read import get_gdf, get_numpy, get_xarray
from tests.read.conftest import make_array, make_record, write_cog
from tests.read.test_aoi_parity import AOIS

BOX_A = shapely.box(500300.0, 4998300.0, 501700.0, 4999700.0)  # pixel-aligned, 140 x 140 px
BOX_B = shapely.box(503000.0, 4996000.0, 504400.0, 4997400.0)  # same size elsewhere


def masked(path, geom, index=1):
    with rasterio.open(path) as src:
        out, _ = rasterio.mask.mask(src, [mapping(geom)], crop=True, filled=True, indexes=index)
    return out


def series(cogs):
    names = ["u16", "u16_nd", "u8"]
    return [
        make_record(f"r{i}", {"b": (cogs[n].url, 0)}, when=dt.datetime(2024, 3 - i, 1))
        for i, n in enumerate(names)
    ], names


def test_numpy_stacks_records_then_aois_with_index(cogs):
    records, names = series(cogs)
    aois = gpd.GeoDataFrame({"plot_id": [7, 9]}, geometry=[BOX_A, BOX_B], crs="EPSG:32633")
    arr, index = get_numpy(records, aois, ["b"], return_index=True)
    assert arr.shape == (6, 140, 140)
    assert index.column("record_id").to_pylist() == ["r0", "r0", "r1", "r1", "r2", "r2"]
    assert index.column("geometry_id").to_pylist() == [1, 2, 1, 2, 1, 2]
    assert index.column("plot_id").to_pylist() == [7, 9, 7, 9, 7, 9]
    for i, (rec, geom) in enumerate((r, g) for r in range(3) for g in (BOX_A, BOX_B)):
        np.testing.assert_array_equal(arr[i], masked(cogs[names[rec]].path, geom))


def test_numpy_several_bands_is_n_c_h_w(cogs):
    cog = cogs["rgb_pixel"]
    record = make_record("r", {"r": (cog.url, 0), "g": (cog.url, 1), "b": (cog.url, 2)})
    arr = get_numpy([record], BOX_A, ["b", "r"], geometry_crs=32633)
    assert arr.shape == (1, 2, 140, 140)
    np.testing.assert_array_equal(arr[0, 0], masked(cog.path, BOX_A, 3))
    np.testing.assert_array_equal(arr[0, 1], masked(cog.path, BOX_A, 1))


def test_numpy_refuses_ragged_shapes(cogs):
    record = make_record("r", {"b": (cogs["u8"].url, 0)})
    with pytest.raises(ReadError, match="different shapes"):
        get_numpy([record], [BOX_A, AOIS["polygon"]], "b", geometry_crs=32633)


def test_xarray_time_series(cogs):
    records, names = series(cogs)
    ds = get_xarray(records, BOX_A, ["b"], geometry_crs=32633)
    assert ds["b"].dims == ("time", "y", "x")
    times = ds["time"].values
    assert list(times) == sorted(times)  # r2 (January) first
    assert list(ds["record_id"].values) == ["r2", "r1", "r0"]
    np.testing.assert_array_equal(ds["b"].isel(time=0).values, masked(cogs["u8"].path, BOX_A))
    assert ds["b"].dtype == np.uint16  # u8 and u16 share one variable: promoted, no float
    # pixel centres
    assert ds["x"].values[0] == 500305.0 and ds["y"].values[0] == 4999695.0


def test_xarray_crs_is_readable_by_rioxarray_and_pyproj(cogs):
    import rioxarray  # noqa: F401 - registers .rio

    records, _ = series(cogs)
    ds = get_xarray(records, BOX_A, ["b"], geometry_crs=32633)
    assert ds.rio.crs.to_epsg() == 32633
    assert tuple(ds["b"].rio.transform())[:6] == (10.0, 0.0, 500300.0, 0.0, -10.0, 4999700.0)
    assert CRS.from_cf(ds["spatial_ref"].attrs).to_epsg() == 32633


def test_xarray_several_aois_get_a_geometry_dim(cogs):
    records, names = series(cogs)
    ds = get_xarray(records, [BOX_A, BOX_B], ["b"], geometry_crs=32633)
    assert ds["b"].dims == ("time", "geometry", "y", "x")
    assert list(ds["geometry"].values) == [1, 2]
    sub = ds["b"].sel(geometry=2).isel(time=2)  # r0 = u16, March
    window = sub.sel(x=slice(503000, 504400), y=slice(4997400, 4996000))
    np.testing.assert_array_equal(window.values, masked(cogs["u16"].path, BOX_B))


def _same_day_pair(tmp_path, served):
    """Two rasters on the same grid and day, nodata=0, with complementary gaps."""
    a = make_array("uint16", (200, 200), seed=1) | 1
    b = make_array("uint16", (200, 200), seed=2) | 1
    a[:, 100:] = 0
    b[:50, :] = 0
    pa_ = served("same_a.tif", write_cog(tmp_path / "a.tif", a, nodata=0, overviews=False))
    pb = served("same_b.tif", write_cog(tmp_path / "b.tif", b, nodata=0, overviews=False))
    when = dt.datetime(2024, 5, 5, 10, 0)
    return (
        a,
        b,
        [
            make_record("a", {"v": (pa_.url, 0)}, when=when),
            make_record("b", {"v": (pb.url, 0)}, when=when),
        ],
    )


def test_xr_combine_modes(tmp_path, served):
    a, b, records = _same_day_pair(tmp_path, served)
    aoi = shapely.box(500000.0, 4998000.0, 502000.0, 5000000.0)
    first = get_xarray(records, aoi, ["v"], geometry_crs=32633)["v"].isel(time=0).values
    np.testing.assert_array_equal(first, np.where(a != 0, a, b))
    override = get_xarray(records, aoi, ["v"], geometry_crs=32633, xr_combine="merge_override")
    np.testing.assert_array_equal(override["v"].isel(time=0).values, a)
    with pytest.raises(ReadError, match="disagree"):
        get_xarray(records, aoi, ["v"], geometry_crs=32633, xr_combine="merge")


def test_xarray_band_names_may_not_shadow_coordinates(cogs):
    record = make_record("r", {"x": (cogs["u8"].url, 0)})
    with pytest.raises(ConfigError, match="coordinate"):
        get_xarray([record], BOX_A, ["x"], geometry_crs=32633)


def test_gdf_rows_and_attributes(cogs):
    records, names = series(cogs)
    aois = gpd.GeoDataFrame({"plot_id": ["p", "q"]}, geometry=[BOX_A, BOX_B], crs=32633)
    gdf = get_gdf(records, aois, ["b"])
    assert len(gdf) == 6
    assert gdf.crs.to_epsg() == 32633
    assert list(gdf["plot_id"]) == ["p", "q"] * 3
    row = gdf[(gdf.record_id == "r1") & (gdf.geometry_id == 2)].iloc[0]
    np.testing.assert_array_equal(row["data"], masked(cogs["u16_nd"].path, BOX_B))
    assert row["crs"] == "EPSG:32633" and row["geometry"].equals(BOX_B)


def test_gdf_input_columns_may_not_collide(cogs):
    record = make_record("r", {"b": (cogs["u8"].url, 0)})
    aois = gpd.GeoDataFrame({"band": ["x"]}, geometry=[BOX_A], crs=32633)
    with pytest.raises(GeometryError, match="collide"):
        get_gdf([record], aois, ["b"])


def test_scale_offset_applies_and_nans_invalid(tmp_path, served):
    data = make_array("int16", (200, 200), seed=5, nodata=-1)
    path = tmp_path / "scaled.tif"
    write_cog(path, data, nodata=-1, overviews=False)
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
        dst.scales = (0.5,)
        dst.offsets = (10.0,)
    cog = served("scaled.tif", path)
    record = make_record("r", {"b": (cog.url, 0)})
    assert record.bands["b"].scale == 0.5 and record.bands["b"].offset == 10.0
    aoi = AOIS["polygon"].intersection(shapely.box(500000, 4998000, 502000, 5000000))
    got = get_numpy([record], aoi, "b", geometry_crs=32633, scale_offset=True)
    with rasterio.open(path) as src:
        raw, _ = rasterio.mask.mask(src, [mapping(aoi)], crop=True, filled=False, indexes=1)
    want = (raw.astype(np.float32) * np.float32(0.5) + np.float32(10.0)).filled(np.nan)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got[0], want)
    assert np.isnan(got[0]).sum() > 100


def test_xarray_bands_of_different_resolutions_share_the_finest_grid(cogs, tmp_path, served):
    coarse = make_array("uint16", (250, 300), seed=9)
    cog20 = served("coarse20.tif", write_cog(tmp_path / "c.tif", coarse, res=20.0))
    record = make_record("r", {"fine": (cogs["u16"].url, 0), "coarse": (cog20.url, 0)})
    with pytest.warns(RuntimeWarning, match="different pixel grids"):
        ds = get_xarray([record], BOX_A, ["fine", "coarse"], geometry_crs=32633)
    assert ds.sizes == {"time": 1, "y": 140, "x": 140}
    np.testing.assert_array_equal(ds["fine"].isel(time=0).values, masked(cogs["u16"].path, BOX_A))
    want = coarse[15:85, 15:85].repeat(2, axis=0).repeat(2, axis=1)
    np.testing.assert_array_equal(ds["coarse"].isel(time=0).values, want)
