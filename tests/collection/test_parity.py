"""The reference's Collection API beyond filters and reads: names, native_res, footprints,
compare_to_catalog, iterate_rasters / get_first_raster (RasterAccessor), from_parquet, describe
and list_collections shapes. Pixels and extents are checked against rasterio."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pyarrow.compute as pc
import pytest
import rasterio
import rasterio.mask
import rasterio.warp
import shapely
from pyproj import Transformer
from tests.collection.conftest import COLLECTION
from tests.collection.truth import assert_same_header, header_from_file

import rasteret
from rasteret.accessor import RasterAccessor
from rasteret.errors import BandNotFoundError, CollectionError, ConfigError

BAND_MAP = {"B02": "blue", "B04": "red", "B08": "nir"}
FILES = {"B02": "B02", "B04": "B04", "B08": "B08"}


@pytest.fixture(scope="module")
def coll(stac_api, tmp_path_factory) -> rasteret.Collection:
    built = rasteret.build_from_stac(
        name="parity",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map=BAND_MAP,
        bbox=(11.5, 44.5, 12.5, 45.5),
        date_range=("2024-01-01", "2024-12-31"),
        workspace_dir=tmp_path_factory.mktemp("parity-ws"),
    )
    return rasteret.load(built.path)


# Outputs of the reference implementation (rasteret 0.4.1) for the same calls.
@pytest.mark.parametrize(
    ("args", "want"),
    [
        (("my_name", ("2024-01-01", "2024-03-31"), "sentinel-2-l2a"), "my-name_202401-03_sentinel"),
        (("x", ("2024-01-15", "2025-02-01"), "landsat/c2-l2"), "x_202401-202502_landsat-c2-l2"),
        (
            ("Fields 2024!", ("2024-05-01", "2024-05-31"), "landsat-c2-l2"),
            "fields-2024_202405-05_landsat",
        ),
        (
            ("__", (dt.date(2023, 12, 1), dt.date(2024, 1, 1)), "AEF/v1"),
            "collection_202312-202401_aef-v1",
        ),
    ],
)
def test_create_name(args, want):
    assert rasteret.Collection.create_name(*args) == want


def test_parse_name():
    parse = rasteret.Collection.parse_name
    assert parse("my-name_202401-03_sentinel-2-l2a") == {
        "custom_name": "my-name",
        "data_source": "sentinel-2-l2a",
        "name": "my-name_202401-03_sentinel-2-l2a",
    }
    assert parse("a-b_202401-12_naip_stac") == {
        "custom_name": "a-b",
        "data_source": "naip",
        "name": "a-b_202401-12_naip",
    }
    for other in ("plain", "a_b_c_d", "a_2024_b"):
        assert parse(other) == {"name": other, "custom_name": other, "data_source": None}
    with pytest.raises(CollectionError, match="date"):
        rasteret.Collection.create_name("x", ("soon", "later"), "s")
    with pytest.raises(CollectionError, match="start, end"):
        rasteret.Collection.create_name("x", "2024-01-01", "s")


def test_native_res(coll, served):
    with rasterio.open(served.path(served.scenes[0].files["B04"])) as src:
        want = src.res
    assert coll.native_res() == want
    assert coll.native_res("b08") == want
    with pytest.raises(BandNotFoundError, match="B02"):
        coll.native_res("B11")
    with pytest.raises(CollectionError, match="no record"):
        coll.where(pc.field("id") == "nobody").native_res()


def test_footprints_native_and_reprojected(coll, served):
    by_id = {s.id: s for s in served.scenes}
    mixed = coll.footprints(band="B04")
    assert list(mixed.columns) == ["id", "datetime", "geometry"]
    assert mixed.crs is None  # two UTM zones
    assert sorted(mixed["id"]) == sorted(by_id)
    for rid, when, geom in zip(mixed["id"], mixed["datetime"], mixed.geometry, strict=True):
        scene = by_id[rid]
        assert when == scene.datetime
        with rasterio.open(served.path(scene.files["B04"])) as src:
            assert geom.equals(shapely.box(*src.bounds))

    zone = coll.where(pc.field("proj:epsg") == 32632).footprints()
    assert zone.crs.to_epsg() == 32632 and len(zone) == sum(s.epsg == 32632 for s in by_id.values())

    lonlat = coll.footprints(crs=4326)
    assert lonlat.crs.to_epsg() == 4326
    for rid, geom in zip(lonlat["id"], lonlat.geometry, strict=True):
        with rasterio.open(served.path(by_id[rid].files["B02"])) as src:
            want = rasterio.warp.transform_bounds(
                src.crs, "EPSG:4326", *src.bounds, densify_pts=201
            )
            corners = [src.transform * xy for xy in ((0, 0), (src.width, src.height))]
        np.testing.assert_allclose(geom.bounds, want, atol=1e-7)
        lon, lat = Transformer.from_crs(src.crs, 4326, always_xy=True).transform(*corners[0])
        assert shapely.Point(lon, lat).distance(geom.exterior) < 1e-9  # corners stay corners


def test_compare_to_catalog(coll):
    with pytest.raises(CollectionError, match="describe"):
        coll.compare_to_catalog()
    rasteret.register(
        rasteret.DatasetDescriptor(
            id="test/synthetic",
            name="Synthetic scenes",
            stac_api="https://127.0.0.1:9/stac",
            stac_collection=COLLECTION,
            band_map={"B02": "blue", "B03": "green", "B04": "red", "B08": "nir"},
            temporal_range=("2024-01-01", "2024-12-31"),
            spatial_coverage="test area",
            license="CC-BY-4.0",
        )
    )
    result = coll.compare_to_catalog()
    assert result["missing_bands"] == ["B03"]
    assert result["bands"] == ["B02", "B04", "B08"] and result["records"] == len(coll)
    assert result["source"] == COLLECTION
    assert result["catalog"]["name"] == "Synthetic scenes"
    assert result["catalog"]["temporal_range"] == ("2024-01-01", "2024-12-31")
    assert result["catalog"]["all_bands"] == ["B02", "B03", "B04", "B08"]
    assert "Synthetic scenes" in repr(result) and "test area" in result._repr_html_()


def test_iterate_rasters_and_accessor_reads(coll, served):
    by_id = {s.id: s for s in served.scenes}

    async def walk() -> list[RasterAccessor]:
        return [r async for r in coll.iterate_rasters(bands=["B04", "B08"])]

    rasters = asyncio.run(walk())
    assert sorted(r.id for r in rasters) == sorted(by_id)
    for r in rasters:
        scene = by_id[r.id]
        assert r.datetime == scene.datetime and r.cloud_cover == scene.cloud_cover
        assert r.crs == scene.epsg and r.collection == COLLECTION
        assert r.available_bands == ["B04", "B08"]
        assert r.assets["B04"] == {"href": served.url(scene.files["B04"]), "band_index": 0}
        assert shapely.from_wkb(r.geometry).equals_exact(scene.footprint, 1e-9)
        assert r.intersects(scene.footprint.centroid.buffer(0.001))
        assert not r.intersects((0.0, 0.0, 1.0, 1.0))
        header, url, index = r.try_get_band_cog_metadata("B08")
        assert url == served.url(scene.files["B08"]) and index == 0
        assert_same_header(header, header_from_file(served.path(scene.files["B08"])))
        assert r.try_get_band_cog_metadata("B02") == (None, None, None)

    first = asyncio.run(coll.get_first_raster())
    assert first.id in by_id and first.available_bands == coll.bands
    scene = by_id[first.id]
    aoi = scene.footprint.centroid.buffer(0.002)
    to_utm = Transformer.from_crs(4326, scene.epsg, always_xy=True)
    aoi_utm = shapely.transform(
        shapely.segmentize(aoi, 1e-4), lambda xy: np.column_stack(to_utm.transform(*xy.T))
    )
    got = asyncio.run(first.load_bands(aoi, ["B04"], for_numpy=True))
    with rasterio.open(served.path(scene.files["B04"])) as src:
        want, _ = rasterio.mask.mask(src, [aoi_utm], crop=True, filled=True, nodata=0)
    np.testing.assert_array_equal(got[0], want[0])
    ds_ = asyncio.run(first.load_bands(aoi, ["B04"]))
    np.testing.assert_array_equal(np.asarray(ds_["B04"]).reshape(want[0].shape), want[0])

    pts = [scene.footprint.centroid, shapely.Point(*scene.footprint.exterior.coords[0])]
    inside = [pts[0]]
    table = asyncio.run(first.sample_points(points=inside, band_codes=["B02"], point_indices=[41]))
    xy = [to_utm.transform(p.x, p.y) for p in inside]
    with rasterio.open(served.path(scene.files["B02"])) as src:
        value = next(src.sample(xy))[0]
    assert table.column("point_index").to_pylist() == [41]
    assert table.column("value").to_pylist() == [value]
    with pytest.raises(ConfigError, match="nearest"):
        asyncio.run(first.sample_points(points=inside, band_codes=["B02"], method="bilinear"))

    empty = coll.where(pc.field("id") == "nobody")
    with pytest.raises(CollectionError, match="no records"):
        asyncio.run(empty.get_first_raster())


def test_from_parquet_describe_and_listing(coll, served, workspace):
    again = rasteret.Collection.from_parquet(
        coll.path, data_source="my-source", defer_dataset_open=True
    )
    assert again.data_source == "my-source" and len(again) == len(coll)
    d = coll.describe()
    assert d["crs"] == [32632, 32633] and d["crs_names"] == ["EPSG:32632", "EPSG:32633"]
    assert d["source"] == COLLECTION
    first = min(s.datetime for s in served.scenes).date().isoformat()
    last = max(s.datetime for s in served.scenes).date().isoformat()
    assert d["dates"] == (first, last)
    listed = rasteret.Collection.list_collections(workspace.parent / "nothing-here")
    assert listed == []
    listed = rasteret.Collection.list_collections(rasteret.collection.Path(coll.path).parent)
    assert [c["date_range"] for c in listed] == [(first, last)]
    assert {"name", "kind", "data_source", "date_range", "size", "created"} <= set(listed[0])
