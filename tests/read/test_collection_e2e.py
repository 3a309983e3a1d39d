"""End to end: a Collection built from COGs served by nginx, read through rasteret.read."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.mask
import shapely
from pyproj import Transformer
from shapely.geometry import mapping

import rasteret
from rasteret.errors import BandNotFoundError, ConfigError
from rasteret.read import get_numpy, get_xarray, sample_points
from tests.read.conftest import make_array, write_cog

# Scenes on one 10 m grid in EPSG:32633; lon/lat AOIs are transformed by the read.
TO_UTM = Transformer.from_crs(4326, 32633, always_xy=True)
AOI_LONLAT = shapely.Polygon(
    [(15.0071, 45.1404), (15.0301, 45.1391), (15.0273, 45.1242), (15.0102, 45.1251)]
)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, served):
    root = tmp_path_factory.mktemp("e2e")
    rows, files = [], {}
    for i in range(4):
        assets = {}
        for j, band in enumerate(("red", "nir")):
            data = make_array("uint16", (500, 600), seed=300 + 10 * i + j, nodata=0)
            path = write_cog(root / f"s{i}_{band}.tif", data, nodata=0)
            cog = served(f"e2e/s{i}_{band}.tif", path)
            assets[band] = {"href": cog.url}
            files[(i, band)] = path
        rows.append(
            {
                "id": f"scene-{i}",
                "datetime": dt.datetime(2024, 1 + i, 15, 10, tzinfo=dt.UTC),
                "eo:cloud_cover": float(10 * i),
                "assets": assets,
            }
        )
    coll = rasteret.build_from_table(
        pa.Table.from_pylist(rows), band_map={"red": "red", "nir": "nir"}, progress=False
    )
    return coll, files


def utm(geom):
    return shapely.transform(
        shapely.segmentize(geom, 0.0005), lambda xy: np.column_stack(TO_UTM.transform(*xy.T))
    )


def test_numpy_time_series_from_a_collection(scenes):
    coll, files = scenes
    arr, index = get_numpy(coll, AOI_LONLAT, ["red", "nir"], return_index=True)
    assert arr.shape[:2] == (4, 2)
    ids = index.column("record_id").to_pylist()
    assert sorted(ids) == [f"scene-{i}" for i in range(4)]
    for n, rid in enumerate(ids):
        i = int(rid.split("-")[1])
        for c, band in enumerate(("red", "nir")):
            with rasterio.open(files[(i, band)]) as src:
                want, _ = rasterio.mask.mask(src, [mapping(utm(AOI_LONLAT))], crop=True, indexes=1)
            np.testing.assert_array_equal(arr[n, c], want)


def test_filters_are_forwarded_to_subset(scenes):
    coll, _ = scenes
    arr, index = get_numpy(
        coll, AOI_LONLAT, "red", return_index=True, date_range=("2024-02-01", "2024-03-31")
    )
    assert sorted(index.column("record_id").to_pylist()) == ["scene-1", "scene-2"]
    arr, index = get_numpy(coll, AOI_LONLAT, "red", return_index=True, cloud_cover_lt=15)
    assert sorted(index.column("record_id").to_pylist()) == ["scene-0", "scene-1"]


def test_xarray_and_points_from_a_collection(scenes):
    coll, files = scenes
    ds = get_xarray(coll, AOI_LONLAT, ["red"])
    assert ds.sizes["time"] == 4
    assert str(ds["time"].values[0]).startswith("2024-01-15T10")
    pts = [(15.0101, 45.1301), (15.0202, 45.1333)]
    table = sample_points(coll, pts, ["nir"])
    assert table.num_rows == 8
    xy = list(zip(*TO_UTM.transform(*zip(*pts, strict=True)), strict=True))
    for row in table.to_pylist():
        i = int(row["record_id"].split("-")[1])
        with rasterio.open(files[(i, "nir")]) as src:
            want = next(src.sample([xy[row["point_index"]]], indexes=1))[0]
        assert row["value"] == want


def test_misspelt_option_is_named(scenes):
    coll, _ = scenes
    with pytest.raises(ConfigError, match=r"\['all_toucehd'\].*cloud_cover_lt"):
        get_numpy(coll, AOI_LONLAT, "red", all_toucehd=True)


def test_unknown_band_names_collection_bands(scenes):
    coll, _ = scenes
    with pytest.raises(BandNotFoundError, match="nir"):
        get_numpy(coll, AOI_LONLAT, ["swir"])


def test_demo_reads_runs_on_a_collection(scenes, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "demo_reads.py"
    spec = importlib.util.spec_from_file_location("demo_reads", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    coll, _ = scenes
    out = demo.run(coll, tmp_path)
    assert out["dataset"].sizes["time"] == 4
    assert out["points"].num_rows == 3 * 4 * 2
    with warnings.catch_warnings():  # a PNG quicklook has no georeferencing, by design
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        png = rasterio.open(out["png"])
    with png:
        assert png.driver == "PNG"
        assert png.shape == out["dataset"]["red"].shape[1:]
        assert png.read(1).max() == 255
    assert "quicklook" in capsys.readouterr().out
