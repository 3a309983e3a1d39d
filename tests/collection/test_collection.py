"""Collection views: filters, inspection, Arrow interop, records for reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely
from tests.collection.conftest import COLLECTION

import rasteret
from rasteret.errors import BandNotFoundError, CollectionError, GeometryError

BAND_MAP = {"B02": "blue", "B04": "red", "B08": "nir"}


@pytest.fixture(scope="module")
def coll(stac_api, tmp_path_factory) -> rasteret.Collection:
    ws = tmp_path_factory.mktemp("coll-ws")
    built = rasteret.build_from_stac(
        name="views",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map=BAND_MAP,
        bbox=(11.5, 44.5, 12.5, 45.5),
        date_range=("2024-01-01", "2024-12-31"),
        workspace_dir=ws,
    )
    return rasteret.load(built.path)


def ids(c: rasteret.Collection) -> list[str]:
    return sorted(c.to_table(columns=["id"]).column("id").to_pylist())


def test_inspection(coll, served):
    assert len(coll) == len(served.scenes)
    assert coll.bands == ["B02", "B04", "B08"]
    assert coll.crs == ["EPSG:32632", "EPSG:32633"]
    assert coll.epsg == [32632, 32633]
    union = shapely.union_all([s.footprint for s in served.scenes]).bounds
    np.testing.assert_allclose(coll.bounds, union, atol=1e-9)
    assert coll.name == "views" and coll.data_source == COLLECTION
    assert coll.head(2).num_rows == 2
    assert coll.head(1, columns=["id", "eo:cloud_cover"]).column_names == ["id", "eo:cloud_cover"]
    text = repr(coll)
    assert "views" in text and f"records={len(served.scenes)}" in text
    d = coll.describe()
    assert d["records"] == len(served.scenes) and d["bands"] == coll.bands
    assert "B04" in repr(d) and "<table>" in d._repr_html_()
    with pytest.raises(CollectionError, match="nope"):
        coll.to_table(columns=["id", "nope"])


def test_filters_are_views(coll, served):
    scenes = served.scenes
    cloudy = 50
    clear = coll.subset(cloud_cover_lt=cloudy)
    assert ids(clear) == sorted(s.id for s in scenes if s.cloud_cover < cloudy)
    assert len(coll) == len(scenes), "the original view is unchanged"
    late = clear.subset(date_range=("2024-02-01", "2024-12-31"))
    start = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    assert ids(late) == sorted(
        s.id for s in scenes if s.cloud_cover < cloudy and s.datetime >= start
    )
    assert ids(coll.where(pc.field("id") == scenes[3].id)) == [scenes[3].id]


def test_date_range_end_day_is_inclusive(coll, served):
    s = served.scenes[2]  # at 10:30 or later on its day
    day = s.datetime.date().isoformat()
    assert ids(coll.subset(date_range=(day, day))) == [s.id]
    assert s.id in ids(coll.subset(date_range=(dt.date(2024, 1, 1), s.datetime.date())))
    exact = s.datetime.isoformat()
    assert ids(coll.subset(date_range=(exact, exact))) == [s.id]


def test_bbox_and_true_geometry_intersection(coll, served):
    s = served.scenes[1]
    fp = s.footprint
    minx, miny, maxx, maxy = fp.bounds
    # a tiny square inside the footprint's bbox but outside the (rotated) footprint itself
    corners = [(minx, maxy), (maxx, maxy), (minx, miny), (maxx, miny)]
    probe = None
    for cx, cy in corners:
        cand = shapely.box(cx, cy, cx, cy).buffer(1e-6)
        inside = cand.intersection(shapely.box(minx, miny, maxx, maxy))
        if not inside.is_empty and not inside.intersects(fp):
            probe = inside
            break
    assert probe is not None, "UTM footprints in lon/lat are not axis-aligned"
    assert ids(coll.subset(bbox=probe.bounds)) == [s.id]
    assert ids(coll.subset(geometries=probe)) == []
    assert ids(coll.subset(geometries=[probe, fp.centroid.buffer(1e-5)])) == [s.id]
    gs = gpd.GeoSeries([fp.centroid.buffer(1e-5)], crs=4326).to_crs(s.epsg)
    assert ids(coll.subset(geometries=gs)) == [s.id]
    assert ids(coll.subset(geometries=shapely.geometry.mapping(fp.centroid.buffer(1e-5)))) == [s.id]
    assert ids(coll.subset(geometries=fp.centroid.buffer(1e-5).wkb)) == [s.id]
    with pytest.raises(GeometryError):
        coll.subset(geometries="not a geometry")


def test_bad_filters(coll):
    with pytest.raises(CollectionError, match="at least one filter"):
        coll.subset()
    with pytest.raises(CollectionError, match="0..100"):
        coll.subset(cloud_cover_lt=120)
    with pytest.raises(CollectionError, match="'split'"):
        coll.subset(split="train")
    with pytest.raises(CollectionError, match="minx <= maxx"):
        coll.subset(bbox=(1, 1, 0, 0))


def test_split_column(served):
    rows = [
        {
            "id": s.id,
            "datetime": s.datetime,
            "geometry": s.footprint.wkb,
            "split": ["train", "val", "test"][i % 3],
            "assets": {"B04": {"href": served.url(s.files["B04"])}},
        }
        for i, s in enumerate(served.scenes)
    ]
    c = rasteret.build_from_table(pa.Table.from_pylist(rows))
    assert ids(c.subset(split="train")) == sorted(r["id"] for r in rows if r["split"] == "train")
    assert len(c.select_split(["train", "val"])) == sum(r["split"] != "test" for r in rows)


def test_arrow_consumers(coll, served):
    n = len(served.scenes)
    rel = duckdb.sql(
        'select id, typeof(geometry) as t, "eo:cloud_cover" as cc from coll order by id'
    )
    rows = rel.fetchall()
    assert [r[0] for r in rows] == sorted(s.id for s in served.scenes)
    assert rows[0][1].startswith("GEOMETRY")
    assert pl.DataFrame(coll).height == n
    gdf = gpd.GeoDataFrame.from_arrow(coll)
    assert gdf.crs.to_string() == "OGC:CRS84"
    by_id = {s.id: s.footprint for s in served.scenes}
    for rid, geom in zip(gdf["id"], gdf.geometry, strict=True):
        assert geom.equals_exact(by_id[rid], tolerance=1e-9)
    assert pa.table(coll).num_rows == n
    assert sum(b.num_rows for b in coll) == n
    assert coll.to_reader(columns=["id"]).read_all().num_rows == n


def test_iter_records(coll, served):
    records = list(
        coll.subset(date_range=("2024-01-01", "2024-12-31")).iter_records(["b04", "B08"])
    )
    assert len(records) == len(served.scenes)
    r = records[0]
    assert set(r.bands) == {"B04", "B08"}
    assert r.geometry is not None and len(r.bbox) == 4
    assert r.collection == COLLECTION
    assert "eo:cloud_cover" in r.properties and "B04_metadata" not in r.properties
    only = next(coll.iter_records("B02", columns=["platform"]))
    assert only.properties == {"platform": "synthetic"}
    with pytest.raises(BandNotFoundError) as err:
        list(coll.iter_records(["B03"]))
    assert "B02" in str(err.value) and "B08" in str(err.value)
    assert coll.resolve_bands(["b02", "B08"]) == ["B02", "B08"]


def test_as_collection_round_trip(coll, tmp_path: Path):
    wide = coll.to_table()
    again = rasteret.as_collection(wide, name="wrapped")
    assert len(again) == len(coll) and again.bands == coll.bands and again.name == "wrapped"
    assert len(rasteret.as_collection(duckdb.sql("select * from wide"))) == len(coll)
    with pytest.raises(CollectionError, match="missing column"):
        rasteret.as_collection(pa.table({"id": ["a"]}))
    with pytest.raises(CollectionError, match="_metadata"):
        rasteret.as_collection(wide.drop_columns([f"{b}_metadata" for b in coll.bands]))


def test_pixel_reads_delegate_to_rasteret_read(coll, served):
    import rasterio
    import rasterio.mask
    from pyproj import Transformer

    s = served.scenes[0]
    aoi = s.footprint.centroid.buffer(0.002)
    got = coll.get_numpy(aoi, ["B04"])
    to_utm = Transformer.from_crs(4326, s.epsg, always_xy=True)
    aoi_utm = shapely.transform(
        shapely.segmentize(aoi, 1e-4), lambda xy: np.column_stack(to_utm.transform(*xy.T))
    )
    with rasterio.open(served.path(s.files["B04"])) as src:
        want, _ = rasterio.mask.mask(src, [aoi_utm], crop=True, filled=True, nodata=0)
    assert got.shape == (1, *want.shape[1:])
    np.testing.assert_array_equal(got[0], want[0])
    ds = coll.get_xarray(aoi, ["B04"])
    np.testing.assert_array_equal(ds["B04"].values.squeeze(), want[0])
    lon, lat = aoi.centroid.x, aoi.centroid.y
    samples = coll.sample_points(pa.table({"lon": [lon], "lat": [lat]}), ["B04"], geometry_crs=4326)
    with rasterio.open(served.path(s.files["B04"])) as src:
        (value,) = next(src.sample([to_utm.transform(lon, lat)]))
    assert samples.column("value").to_pylist() == [value]
