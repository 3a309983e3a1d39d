"""GeoKeys -> CRS and model tags -> transform equal what rasterio (GDAL) reports for the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.transform import from_origin

from rasteret.tiff import open_geotiff
from rasteret.tiff.geo import parse_gdal_metadata, parse_geokeys, parse_nodata

CRSS = [
    "EPSG:4326",
    "EPSG:4269",
    "EPSG:32633",
    "EPSG:3857",
    "EPSG:3035",
    "EPSG:27700",
    "EPSG:2056",
    "EPSG:3031",
    "EPSG:5070",
    "EPSG:2193",
    "EPSG:27200",
    "EPSG:2046",
    "EPSG:3375",
    "EPSG:2264",
    "ESRI:54009",
    "+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +x_0=0 +y_0=0 +datum=NAD83 +units=m",
    "+proj=lcc +lat_1=46.8 +lat_0=46.8 +lon_0=2.33 +k_0=0.99987742 +x_0=600000 +y_0=2200000 "
    "+ellps=clrk80ign +pm=paris +towgs84=-168,-60,320,0,0,0,0 +units=m",
    "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 +ellps=GRS80 +units=m",
    "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m",
    "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=stere +lat_0=-90 +lon_0=0 +k=0.994 +x_0=2000000 +y_0=2000000 +datum=WGS84 +units=m",
    "+proj=stere +lat_0=40 +lon_0=-100 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=sterea +lat_0=52.15616 +lon_0=5.38764 +k=0.9999079 +x_0=155000 +y_0=463000 "
    "+ellps=bessel +towgs84=565.4,50.3,465.6,-0.399,0.344,-1.877,4.072 +units=m",
    "+proj=merc +lon_0=10 +k=0.9 +x_0=100 +y_0=200 +datum=WGS84 +units=m",
    "+proj=merc +lat_ts=30 +lon_0=10 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=cea +lat_ts=30 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=eqc +lat_ts=20 +lat_0=0 +lon_0=5 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=cass +lat_0=10 +lon_0=20 +x_0=300 +y_0=400 +ellps=intl +units=m",
    "+proj=aeqd +lat_0=45 +lon_0=-90 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=gnom +lat_0=45 +lon_0=-90 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=ortho +lat_0=45 +lon_0=-90 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=poly +lat_0=0 +lon_0=-54 +x_0=5000000 +y_0=10000000 +ellps=aust_SA +units=m",
    "+proj=mill +lat_0=0 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=vandg +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=robin +lon_0=0 +datum=WGS84 +units=m",
    "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m",
    "+proj=moll +lon_0=0 +datum=WGS84 +units=m",
    "+proj=eqdc +lat_1=20 +lat_2=60 +lon_0=0 +datum=WGS84",
    "+proj=omerc +lat_0=4 +lonc=102.25 +alpha=323.0257905 +k=0.99984 +x_0=804671 +y_0=0 "
    "+no_uoff +gamma=323.1301023611111 +ellps=evrst69 +units=m",
    "+proj=omerc +lat_0=4 +lonc=115 +alpha=53.31582047222222 +k=0.99984 +x_0=590476.87 "
    "+y_0=442857.65 +gamma=53.13010236111111 +ellps=evrst69 +units=m",
    "+proj=tmerc +lat_0=0 +lon_0=-93 +k=0.9996 +x_0=500000 +y_0=0 +ellps=clrk66 +units=us-ft",
    "+proj=tmerc +lat_0=0 +lon_0=9 +k=1 +x_0=100 +y_0=0 +a=6378000 +b=6356000 +units=km",
    "+proj=utm +zone=33 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m",
    "+proj=utm +zone=33 +datum=WGS84 +units=ft",
    "+proj=longlat +a=6378000 +rf=298 +no_defs",
    "+proj=longlat +ellps=WGS84 +pm=lisbon +no_defs",
]


@pytest.mark.parametrize("crs", CRSS)
def test_crs_equals_rasterio(tmp_path: Path, crs: str) -> None:
    path = tmp_path / "crs.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=20, height=10, count=1, dtype="uint8", crs=crs,
        transform=from_origin(1000.5, 2000.25, 10, 7.5),
    ) as dst:  # fmt: skip
        dst.write(np.zeros((1, 10, 20), "uint8"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CRS we cannot build would warn
        tif = open_geotiff(str(path))
    with rasterio.open(path) as ref:
        expected = pyproj.CRS.from_wkt(ref.crs.to_wkt())
        assert tif.crs is not None
        assert expected.equals(tif.crs), f"\nours: {tif.crs.to_wkt()}\nref:  {expected.to_wkt()}"
        assert tuple(tif.transform) == tuple(ref.transform)


def test_no_georeferencing_gives_identity_and_no_crs(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="GTiff", width=8, height=4, count=1,
                           dtype="uint8") as dst:  # fmt: skip
            dst.write(np.ones((1, 4, 8), "uint8"))
        tif = open_geotiff(str(path))
        with rasterio.open(path) as ref:
            assert tif.crs is None and ref.crs is None
            assert tuple(tif.transform) == tuple(ref.transform)


def test_gcps_give_no_transform_like_gdal(tmp_path: Path) -> None:
    path = tmp_path / "gcps.tif"
    gcps = [
        GroundControlPoint(0, 0, 10.0, 50.0),
        GroundControlPoint(0, 20, 10.2, 50.0),
        GroundControlPoint(10, 0, 10.0, 49.9),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="GTiff", width=20, height=10, count=1,
                           dtype="uint8", gcps=gcps, crs="EPSG:4326") as dst:  # fmt: skip
            dst.write(np.ones((1, 10, 20), "uint8"))
        tif = open_geotiff(str(path))
        with rasterio.open(path) as ref:
            assert tuple(tif.transform) == tuple(ref.transform)


def test_geokeys_survive_garbage() -> None:
    assert parse_geokeys(None, None, None) == {}
    assert parse_geokeys([1, 1, 0], None, None) == {}
    # count claims 5 keys, one present; a DOUBLE key pointing past the doubles is dropped
    keys = parse_geokeys([1, 1, 0, 5, 1024, 0, 1, 1, 3081, 34736, 1, 9], [1.0], "x|")
    assert keys == {1024: 1}


def test_gdal_tags_parse_defensively() -> None:
    assert parse_nodata("-9999\x00") == -9999.0
    assert np.isnan(parse_nodata("nan"))
    assert parse_nodata("garbage") is None
    meta = parse_gdal_metadata("<GDALMetadata><Item name='SCALE' sample='5' role='scale'>", 2)
    assert meta.scales == (1.0, 1.0)
    xml = (
        "<GDALMetadata><Item name='SCALE' sample='1' role='scale'>0.25</Item>"
        "<Item name='X' sample='0' role='offset'>bad</Item><Item name='A'>b</Item>"
        "<Item name='D' domain='IMAGE_STRUCTURE'>skip</Item></GDALMetadata>"
    )
    meta = parse_gdal_metadata(xml, 2)
    assert meta.scales == (1.0, 0.25) and meta.offsets == (0.0, 0.0) and meta.items == {"A": "b"}
