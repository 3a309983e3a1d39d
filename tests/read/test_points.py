"""sample_points equals rasterio.sample (pixel edges included) and fetches only point blocks."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pytest
import rasterio
import shapely

from rasteret.errors import UnsupportedGeometryError
from rasteret.read import POINT_SAMPLES_SCHEMA, sample_points
from tests.read.conftest import make_record

# Pixel edges are multiples of 10 m from (500000, 5000000); tiles are 1280 m wide.
POINTS = [
    (500005.0, 4999995.0),  # pixel centre
    (500010.0, 4999990.0),  # a pixel corner: belongs to the pixel right/below (rasterio floor)
    (501280.0, 4998720.0),  # a tile corner
    (500000.0, 5000000.0),  # the raster's top-left corner
    (505999.999, 4995000.001),  # just inside the bottom-right corner
    (506000.0, 4997000.0),  # the right edge itself: outside
    (499999.0, 4997000.0),  # outside, left
    (503333.3, 4996666.6),
]


def expected(path, xy, index=1):
    with rasterio.open(path) as src:
        return np.array([v[0] for v in src.sample(xy, indexes=index)], dtype=np.float64)


@pytest.mark.parametrize("name", ["u8", "u16_nd", "i16_nd", "f32_nan"])
def test_values_equal_rasterio_sample(cogs, name):
    cog = cogs[name]
    record = make_record("r1", {"b": (cog.url, 0)})
    with pytest.warns(RuntimeWarning, match="2 of 8 point"):
        table = sample_points([record], POINTS, "b", geometry_crs=32633)
    want = expected(cog.path, POINTS)
    inside = [0, 1, 2, 3, 4, 7]
    assert table.column("point_index").to_pylist() == inside
    np.testing.assert_array_equal(table.column("value").to_numpy(), want[inside])
    assert table.schema.names[: len(POINT_SAMPLES_SCHEMA)] == POINT_SAMPLES_SCHEMA.names
    assert set(table.column("raster_crs").to_pylist()) == {32633}
    assert set(table.column("point_crs").to_pylist()) == {32633}
    assert table.column("point_x").to_pylist() == [POINTS[i][0] for i in inside]


def test_multiband_points_and_extra_columns(cogs):
    cog = cogs["rgb_pixel"]
    record = make_record("r1", {"red": (cog.url, 0), "blue": (cog.url, 2)})
    pts = gpd.GeoDataFrame(
        {"plot_id": ["a", "b", "c"]},
        geometry=[shapely.Point(p) for p in POINTS[:3]],
        crs="EPSG:32633",
    )
    table = sample_points([record], pts, ["red", "blue"])
    assert table.num_rows == 6
    rows = table.to_pylist()
    for row in rows:
        index = 1 if row["band"] == "red" else 3
        want = expected(cog.path, [POINTS[row["point_index"]]], index)[0]
        assert row["value"] == want
        assert row["plot_id"] == "abc"[row["point_index"]]


def test_points_as_table_with_lon_lat_columns(cogs):
    cog = cogs["u16"]
    record = make_record("r1", {"b": (cog.url, 0)})
    lon = np.array([15.0071, 15.0301])
    lat = np.array([45.1404, 45.1242])
    table = pa.table({"lon": lon, "lat": lat, "site": ["x", "y"]})
    with pytest.raises(Exception, match="geometry_crs"):
        sample_points([record], table, "b")
    got = sample_points([record], table, "b", geometry_crs=4326)
    from pyproj import Transformer

    xs, ys = Transformer.from_crs(4326, 32633, always_xy=True).transform(lon, lat)
    want = expected(cog.path, list(zip(xs, ys, strict=True)))
    np.testing.assert_array_equal(got.column("value").to_numpy(), want)
    assert got.column("site").to_pylist() == ["x", "y"]
    assert got.column("point_x").to_pylist() == lon.tolist()


def test_match_latest_prefers_newest_valid_value(cogs):
    old = make_record("old", {"b": (cogs["u16"].url, 0)}, when=dt.datetime(2024, 1, 1))
    new = make_record("new", {"b": (cogs["u16_nd"].url, 0)}, when=dt.datetime(2024, 6, 1))
    with rasterio.open(cogs["u16_nd"].path) as src:
        band = src.read(1)
    rows, cols = np.nonzero(band == 0)
    nodata_xy = (500000 + cols[0] * 10 + 5, 5000000 - rows[0] * 10 - 5)
    rows, cols = np.nonzero(band != 0)
    valid_xy = (500000 + cols[0] * 10 + 5, 5000000 - rows[0] * 10 - 5)
    table = sample_points(
        [old, new], [nodata_xy, valid_xy], "b", geometry_crs=32633, match="latest"
    )
    got = {r["point_index"]: (r["record_id"], r["value"]) for r in table.to_pylist()}
    assert got[0] == ("old", expected(cogs["u16"].path, [nodata_xy])[0])
    assert got[1] == ("new", expected(cogs["u16_nd"].path, [valid_xy])[0])
    everything = sample_points([old, new], [nodata_xy, valid_xy], "b", geometry_crs=32633)
    assert everything.num_rows == 4


def test_record_columns_per_row(cogs):
    """record_id / datetime (UTC, naive) / collection / band / CRS columns follow each row."""
    from dataclasses import replace

    from pyproj import CRS

    cest = dt.timezone(dt.timedelta(hours=2))
    a = make_record(
        "a", {"b": (cogs["u16"].url, 0)}, when=dt.datetime(2024, 5, 1, 12, 0, tzinfo=cest)
    )
    b = make_record(
        "b",
        {"b": (cogs["u16"].url, 0), "c": (cogs["u8"].url, 0)},
        when=dt.datetime(2024, 6, 1, 8, 30),
    )
    b = replace(b, collection="other")
    c = replace(make_record("c", {"c": (cogs["u8"].url, 0)}), datetime=None, collection=None)
    # UTM 33N with a 1 m false-easting shift: a CRS without an EPSG code
    shifted = CRS.from_proj4(
        "+proj=tmerc +lat_0=0 +lon_0=15 +k=0.9996 +x_0=500001 +y_0=0 +datum=WGS84 +units=m"
        " +no_defs +type=crs"
    )
    pts = [(x + 1, y) for x, y in POINTS[:2]]
    table = sample_points([a, b, c], pts, ["c", "b"], geometry_crs=shifted)
    rows = [
        (r["point_index"], r["record_id"], r["datetime"], r["collection"], r["band"])
        for r in table.to_pylist()
    ]
    when_a, when_b = dt.datetime(2024, 5, 1, 10, 0), dt.datetime(2024, 6, 1, 8, 30)
    assert rows == [
        (0, "a", when_a, "tests", "b"),
        (0, "b", when_b, "other", "c"),
        (0, "b", when_b, "other", "b"),
        (0, "c", None, None, "c"),
        (1, "a", when_a, "tests", "b"),
        (1, "b", when_b, "other", "c"),
        (1, "b", when_b, "other", "b"),
        (1, "c", None, None, "c"),
    ]
    assert table.schema.field("datetime").type == pa.timestamp("us")
    assert table.column("point_crs").null_count == table.num_rows
    assert set(table.column("raster_crs").to_pylist()) == {32633}
    for row in table.to_pylist():
        cog = cogs["u16"] if row["band"] == "b" else cogs["u8"]
        assert row["value"] == expected(cog.path, [POINTS[row["point_index"]]])[0]


def test_masked_pixels_come_back_as_nan(cogs):
    cog = cogs["masked"]
    record = make_record("r1", {"b": (cog.url, 0)})
    # (0, 0) lies outside the circular mask, the centre inside it.
    table = sample_points(
        [record], [(500005.0, 4999995.0), (503005.0, 4997505.0)], "b", geometry_crs=32633
    )
    values = table.column("value").to_numpy()
    with rasterio.open(cog.path) as src:
        masked = [
            v[0] for v in src.sample([(500005.0, 4999995.0), (503005.0, 4997505.0)], masked=True)
        ]
    assert np.ma.is_masked(masked[0]) and not np.ma.is_masked(masked[1])
    assert np.isnan(values[0]) and values[1] == masked[1]


def test_only_blocks_under_points_are_fetched(cogs, nginx_server):
    cog = cogs["u16"]
    record = make_record("r1", {"b": (cog.url, 0)})
    mark = nginx_server.mark()
    sample_points([record], [(500005.0, 4999995.0), (500015.0, 4999985.0)], "b", geometry_crs=32633)
    mine = [r for r in nginx_server.requests(since=mark) if r["path"].endswith(cog.name)]
    assert len(mine) == 1  # both points are in the first tile
    layout = record.bands["b"].header.images[0]
    first = (int(layout.offsets[0]), int(layout.offsets[0] + layout.byte_counts[0]) - 1)
    assert mine[0]["range"] == f"bytes={first[0]}-{first[1]}"


def test_polygons_are_refused(cogs):
    record = make_record("r1", {"b": (cogs["u8"].url, 0)})
    with pytest.raises(UnsupportedGeometryError, match="points"):
        sample_points([record], shapely.box(0, 0, 1, 1), "b")
