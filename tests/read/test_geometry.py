"""Geometry inputs: every accepted form, CRS rules, carried columns, refusals; and the window
maths against rasterio's own functions."""

from __future__ import annotations

import json

import duckdb
import geopandas as gpd
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import rasterio
import shapely
import shapely.affinity
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS
from rasterio.features import geometry_window
from rasterio.io import MemoryFile
from shapely.geometry import mapping

from rasteret.errors import GeometryError, UnsupportedGeometryError
from rasteret.read.geometry import normalize_geometries, normalize_points
from rasteret.read.grid import Grid, Window

POLY = shapely.Polygon([(0, 0), (2, 0), (2, 1), (0, 0)])
EPSG4326 = CRS.from_epsg(4326)


def test_bbox_tuple_defaults_to_4326():
    got = normalize_geometries((1.0, 2.0, 3.0, 4.0))
    assert got.crs == EPSG4326
    assert got.geometries[0].equals(shapely.box(1, 2, 3, 4))
    assert list(got.ids) == [1]


def test_bad_bbox_names_the_problem():
    with pytest.raises(GeometryError, match="minx < maxx"):
        normalize_geometries((3.0, 2.0, 1.0, 4.0))


@pytest.mark.parametrize(
    "value",
    [POLY, shapely.to_wkb(POLY), shapely.to_wkt(POLY), mapping(POLY), [POLY], np.array([POLY])],
)
def test_single_geometry_forms(value):
    got = normalize_geometries(value, geometry_crs=3857)
    assert got.crs == CRS.from_epsg(3857)
    assert got.geometries[0].equals(POLY)


def test_feature_collection_keeps_properties():
    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": mapping(POLY), "properties": {"plot_id": 1}},
            {"type": "Feature", "geometry": mapping(POLY), "properties": {"plot_id": 2}},
        ],
    }
    got = normalize_geometries(fc)
    assert len(got) == 2
    assert got.attributes.column("plot_id").to_pylist() == [1, 2]


def test_geodataframe_crs_and_columns():
    gdf = gpd.GeoDataFrame({"plot_id": ["a"]}, geometry=[POLY], crs="EPSG:32633")
    got = normalize_geometries(gdf)
    assert got.crs.to_epsg() == 32633
    assert got.attributes.column_names == ["plot_id"]
    with pytest.raises(GeometryError, match="contradicts"):
        normalize_geometries(gdf, geometry_crs=4326)
    naked = gpd.GeoDataFrame({"plot_id": ["a"]}, geometry=[POLY])
    with pytest.raises(GeometryError, match="has no CRS"):
        normalize_geometries(naked)
    assert normalize_geometries(naked, geometry_crs=3035).crs.to_epsg() == 3035


def _geoarrow_table(crs: object | None) -> pa.Table:
    meta = {b"ARROW:extension:name": b"geoarrow.wkb"}
    if crs is not None:
        meta[b"ARROW:extension:metadata"] = json.dumps({"crs": crs}).encode()
    field = pa.field("geom", pa.binary(), metadata=meta)
    return pa.table(
        [pa.array([shapely.to_wkb(POLY)], pa.binary()), pa.array([5])],
        schema=pa.schema([field, pa.field("plot_id", pa.int64())]),
    )


def test_arrow_table_with_geoarrow_crs():
    got = normalize_geometries(_geoarrow_table(CRS.from_epsg(32632).to_json_dict()))
    assert got.crs.to_epsg() == 32632
    assert got.attributes.column("plot_id").to_pylist() == [5]


def test_table_without_crs_must_say_so():
    with pytest.raises(GeometryError, match="geometry_crs="):
        normalize_geometries(_geoarrow_table(None))
    assert normalize_geometries(_geoarrow_table(None), geometry_crs=4326).crs == EPSG4326


def test_duckdb_and_polars_tables():
    con = duckdb.connect()
    rel = con.sql("SELECT 'x' AS plot, from_hex(?) AS wkb", params=[shapely.to_wkb(POLY, hex=True)])
    got = normalize_geometries(rel, geometry_column="wkb", geometry_crs=4326)
    assert got.geometries[0].equals(POLY)
    assert got.attributes.column("plot").to_pylist() == ["x"]
    frame = pl.DataFrame({"geometry": [shapely.to_wkb(POLY)], "site": [3]})
    got = normalize_geometries(frame, geometry_crs=4326)
    assert got.attributes.column("site").to_pylist() == [3]
    with pytest.raises(GeometryError, match="not a column"):
        normalize_geometries(frame, geometry_column="nope", geometry_crs=4326)


def test_native_geoarrow_polygons():
    coords = pa.StructArray.from_arrays(
        [pa.array([0.0, 2.0, 2.0, 0.0]), pa.array([0.0, 0.0, 1.0, 0.0])], names=["x", "y"]
    )
    rings = pa.ListArray.from_arrays(pa.array([0, 4], pa.int32()), coords)
    polys = pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), rings)
    meta = {
        b"ARROW:extension:name": b"geoarrow.polygon",
        b"ARROW:extension:metadata": b'{"crs": "EPSG:4326"}',
    }
    table = pa.table([polys], schema=pa.schema([pa.field("geometry", polys.type, metadata=meta)]))
    got = normalize_geometries(table)
    assert got.geometries[0].equals(POLY)


def test_points_are_refused_for_aoi_reads():
    with pytest.raises(UnsupportedGeometryError, match="sample_points"):
        normalize_geometries(shapely.Point(1, 2))
    with pytest.raises(UnsupportedGeometryError):
        normalize_geometries([POLY, shapely.MultiPoint([(0, 0), (1, 1)])])


def test_empty_and_unknown_inputs():
    with pytest.raises(GeometryError, match="empty"):
        normalize_geometries(shapely.Polygon())
    with pytest.raises(GeometryError, match="cannot use a"):
        normalize_geometries(object())
    with pytest.raises(GeometryError, match="WKB"):
        normalize_geometries(b"not wkb")


def test_point_forms():
    assert normalize_points((1.0, 2.0)).x.tolist() == [1.0]
    got = normalize_points([(1.0, 2.0), (3.0, 4.0)], geometry_crs=3857)
    assert got.y.tolist() == [2.0, 4.0] and got.crs.to_epsg() == 3857
    got = normalize_points(pa.table({"x": [1.0], "y": [2.0], "k": [1]}), geometry_crs=4326)
    assert got.attributes.column_names == ["k"]
    got = normalize_points(
        pa.table({"a": [1.0], "b": [2.0]}), x_column="a", y_column="b", geometry_crs=4326
    )
    assert (got.x[0], got.y[0]) == (1.0, 2.0)
    with pytest.raises(UnsupportedGeometryError):
        normalize_points(POLY)
    with pytest.raises(GeometryError, match="non-finite"):
        normalize_points([(np.nan, 1.0)])


# --- window maths vs rasterio --------------------------------------------------------------

TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)


@pytest.fixture(scope="module")
def dataset():
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            width=300,
            height=200,
            count=1,
            dtype="uint8",
            transform=TRANSFORM,
            crs="EPSG:32633",
        ) as ds:
            yield ds


coord = st.floats(min_value=-500.0, max_value=3500.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(coord, coord), min_size=3, max_size=8))
def test_geometry_window_equals_rasterio(dataset, pts):
    poly = shapely.Polygon([(500000 + x, 5000000 - y) for x, y in pts])
    if poly.is_empty or poly.area == 0:
        return
    grid = Grid(None, TRANSFORM, 300, 200)
    got = grid.geometry_window([poly])
    try:
        want = geometry_window(dataset, [mapping(poly)])
    except rasterio.errors.WindowError:
        want = None
    if want is None or want.width <= 0 or want.height <= 0:
        assert got is None
    else:
        assert got == Window(want.col_off, want.row_off, want.width, want.height)


def test_bare_wkb_array_defaults_to_4326():
    arr = pa.array([shapely.to_wkb(POLY)], pa.binary())
    got = normalize_geometries(arr)
    assert got.crs == EPSG4326 and got.geometries[0].equals(POLY)
    assert normalize_geometries(pa.chunked_array([arr]), geometry_crs=3857).crs.to_epsg() == 3857


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(*[st.floats(-2.0, 2.0, allow_nan=False) for _ in range(4)]),
    st.floats(0.0, 40.0),
    st.booleans(),
)
def test_mask_is_skipped_only_when_rasterio_keeps_every_pixel(offsets, angle, all_touched):
    """aoi_mask returns None (no rasterisation) only where rasterio's mask is all True, and
    otherwise returns exactly rasterio's mask."""
    from rasterio.features import geometry_mask

    from rasteret.read.window import aoi_mask

    grid = Grid(CRS.from_epsg(32633), Affine(10, 0, 500000, 0, -10, 5000000), 30, 20)
    left, bottom, right, top = grid.bounds
    d = [v * 10 for v in offsets]  # up to two pixels in or out on each side
    geom = shapely.box(left - d[0], bottom - d[1], right + d[2], top + d[3])
    geom = shapely.affinity.rotate(geom, angle) if angle > 20 else geom
    want = geometry_mask(
        [mapping(geom)], grid.shape, grid.transform, all_touched=all_touched, invert=True
    )
    got = aoi_mask(geom, grid, all_touched)
    if got is None:
        assert want.all()
    else:
        np.testing.assert_array_equal(got, want)
    if min(d) >= 0 and angle <= 20:  # the AOI covers the whole grid: always skipped
        assert got is None
