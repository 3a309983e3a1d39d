"""read_window: chips on a fixed bounds/res grid. Aligned chips equal rasterio.merge (also where
the chip overhangs the raster, and as a 'first' mosaic of overlapping records); warped chips
equal rasterio.warp.reproject; time series by id or datetime; one fetch for all records; bad
input and unreadable records are named."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import rasterio
import rasterio.merge
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

import rasteret
from rasteret.errors import ReadArgumentError, ReadError
from rasteret.read import read_window
from tests.read.conftest import ORIGIN, RES, make_array, make_record, write_cog

X0, Y0 = ORIGIN
SIDE = 256  # px per test raster; 128 px tiles


@pytest.fixture(scope="module")
def shifted(tmp_path_factory, served):
    """Three uint16 rasters (nodata 0, holes of nodata) on one 10 m grid, each shifted by 100
    px east of the last, two bands each; plus their local paths per (record, band)."""
    root = tmp_path_factory.mktemp("chips")
    records, paths = [], {}
    for i in range(3):
        bands = {}
        origin = (X0 + i * 100 * RES, Y0)
        for j, band in enumerate(("red", "nir")):
            data = make_array("uint16", (SIDE, SIDE), seed=500 + 10 * i + j, nodata=0)
            data[40:90, 30:200] = 0  # a hole: later records must show through in a mosaic
            path = write_cog(root / f"c{i}_{band}.tif", data, nodata=0, origin=origin)
            bands[band] = (served(f"chips/c{i}_{band}.tif", path).url, 0)
            paths[(i, band)] = path
        when = dt.datetime(2024, 5, 1 if i < 2 else 2)
        records.append(make_record(f"r{i}", bands, when=when))
    return records, paths


def merged(paths, bounds, res, method="first"):
    sources = [rasterio.open(p) for p in paths]
    try:
        data, _ = rasterio.merge.merge(sources, bounds=bounds, res=res, method=method)
    finally:
        for s in sources:
            s.close()
    return data[0]


def chip(col, row, w, h, res=RES):
    """Bounds of a chip whose top-left is pixel (col, row) of the first raster."""
    left, top = X0 + col * RES, Y0 - row * RES
    return (left, top - h * res, left + w * res, top)


def test_aligned_time_series_by_id_equals_rasterio_merge(shifted):
    records, paths = shifted
    bounds = chip(120, 60, 96, 80)  # inside r0, r1 and r2 (r2 starts at col 200)
    got = read_window(
        records,
        record_ids=["r2", "r0", "r1"],
        bounds=bounds,
        res=(RES, RES),
        bands=["nir", "red"],
        target_crs=32633,
        group_by="id",
    )
    assert got.shape == (3, 2, 80, 96) and got.dtype == np.uint16
    for t, i in enumerate((2, 0, 1)):
        for c, band in enumerate(("nir", "red")):
            np.testing.assert_array_equal(got[t, c], merged([paths[(i, band)]], bounds, RES))


def test_chip_over_the_raster_edge_gets_nodata_like_merge(shifted):
    records, paths = shifted
    bounds = chip(-30, 200, 64, 100)  # overhangs the west and south edges of r0
    got = read_window(
        records, record_ids=["r0"], bounds=bounds, res=(RES, RES), bands=["red"], group_by="id"
    )
    want = merged([paths[(0, "red")]], bounds, RES)
    assert got.shape == (1, 1, 100, 64)
    np.testing.assert_array_equal(got[0, 0], want)
    assert (got[0, 0, :, :30] == 0).all() and (got[0, 0, 56:] == 0).all()


def test_mosaic_first_valid_pixel_wins_like_merge_first(shifted):
    records, paths = shifted
    bounds = chip(90, 20, 200, 100)  # across all three rasters and their holes
    order = ["r1", "r0", "r2"]
    got = read_window(
        records, record_ids=order, bounds=bounds, res=(RES, RES), bands=["red", "nir"]
    )
    assert got.shape == (2, 100, 200)
    for c, band in enumerate(("red", "nir")):
        want = merged([paths[(int(r[1]), band)] for r in order], bounds, RES)
        np.testing.assert_array_equal(got[c], want)


def test_group_by_datetime_mosaics_each_time(shifted):
    records, paths = shifted
    bounds = chip(150, 30, 64, 64)
    got = read_window(
        records,
        record_ids=["r2", "r1", "r0"],
        bounds=bounds,
        res=(RES, RES),
        bands=["red"],
        group_by="datetime",
    )
    assert got.shape == (2, 1, 64, 64)  # 1 May (r1 over r0), then 2 May (r2)
    np.testing.assert_array_equal(
        got[0, 0], merged([paths[(1, "red")], paths[(0, "red")]], bounds, RES)
    )
    np.testing.assert_array_equal(got[1, 0], merged([paths[(2, "red")]], bounds, RES))


@pytest.mark.parametrize("name,resampling", [("u16_nd", "nearest"), ("f32_nan", "bilinear")])
def test_another_crs_is_warped_like_reproject(cogs, name, resampling):
    cog = cogs[name]
    record = make_record("w", {"b": (cog.url, 0)})
    transform = Affine(14.0, 0, 1671000.0, 0, -14.0, 5645200.0)
    bounds = (1671000.0, 5645200.0 - 14.0 * 150, 1671000.0 + 14.0 * 180, 5645200.0)
    got = read_window([record], record_ids=["w"], bounds=bounds, res=(14, 14), bands=["b"],
                      target_crs=3857, group_by="id")  # fmt: skip
    with rasterio.open(cog.path) as src:
        fill = src.nodata if src.nodata is not None else 0
        want = np.full((150, 180), fill, dtype=src.dtypes[0])
        reproject(
            source=src.read(1),
            destination=want,
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=src.nodata,
            dst_transform=transform,
            dst_crs="EPSG:3857",
            dst_nodata=src.nodata,
            resampling=Resampling[resampling],
        )
    np.testing.assert_array_equal(got[0, 0], want)


def test_one_fetch_for_all_records_then_the_block_cache(shifted, nginx_server):
    records, _ = shifted
    bounds = chip(190, 10, 64, 64)  # touches all three rasters (r2 starts at column 200)
    args = dict(record_ids=["r0", "r1", "r2"], bounds=bounds, res=(RES, RES), group_by="id")
    mark = nginx_server.mark()
    first = read_window(records, bands=["red", "nir"], **args)
    paths = [e["path"] for e in nginx_server.requests(since=mark) if "/chips/" in e["path"]]
    assert len(paths) == len(set(paths)) == 6  # one coalesced request per file
    mark = nginx_server.mark()
    again = read_window(records, bands=["red", "nir"], **args)
    assert not [e for e in nginx_server.requests(since=mark) if "/chips/" in e["path"]]
    np.testing.assert_array_equal(again, first)


def test_collection_method_and_arrow_ids(tmp_path, served):
    rows, paths = [], {}
    for i in range(2):
        data = make_array("int16", (SIDE, SIDE), seed=700 + i, nodata=-9999)
        path = write_cog(tmp_path / f"k{i}.tif", data, nodata=-9999)
        cog = served(f"chips/k{i}.tif", path)
        rows.append(
            {
                "id": f"k{i}",
                "datetime": dt.datetime(2024, 2, 1 + i),
                "assets": {"b": {"href": cog.url}},
            }
        )
        paths[f"k{i}"] = path
    import pyarrow as pa

    coll = rasteret.build_from_table(
        pa.Table.from_pylist(rows), band_map={"b": "b"}, progress=False
    )
    bounds = chip(10, 10, 32, 48)
    got = coll.read_window(
        record_ids=pa.array(["k1", "k0"]), bounds=bounds, res=(RES, RES), bands=["b"],
        group_by="id",
    )  # fmt: skip
    assert got.shape == (2, 1, 48, 32) and got.dtype == np.int16
    np.testing.assert_array_equal(got[0, 0], merged([paths["k1"]], bounds, RES))
    np.testing.assert_array_equal(got[1, 0], merged([paths["k0"]], bounds, RES))


def test_repeated_record_sets_are_selected_once(tmp_path, served, monkeypatch):
    """A sampler asks for the same records chip after chip: the collection is filtered once
    per (record_ids, bands); other sets, orders and band lists still get their own records,
    and ids that are not there are reported on every call."""
    rows, paths = [], {}
    for i in range(2):
        bands = {}
        for b in ("x", "y"):
            data = make_array("uint16", (SIDE, SIDE), seed=800 + 10 * i + ord(b), nodata=0)
            path = write_cog(tmp_path / f"m{i}{b}.tif", data, nodata=0)
            bands[b] = {"href": served(f"chips/m{i}{b}.tif", path).url}
            paths[(f"m{i}", b)] = path
        rows.append({"id": f"m{i}", "datetime": dt.datetime(2024, 3, 1 + i), "assets": bands})
    import pyarrow as pa

    coll = rasteret.build_from_table(
        pa.Table.from_pylist(rows), band_map={"x": "x", "y": "y"}, progress=False
    )
    selections = []
    where = type(coll).where
    monkeypatch.setattr(type(coll), "where", lambda self, e: selections.append(e) or where(self, e))
    args = dict(res=(RES, RES), group_by="id")
    for n, (ids, bands, col) in enumerate(
        [(["m0", "m1"], ["x"], 10), (["m0", "m1"], ["x"], 90), (["m1", "m0"], ["x"], 50),
         (["m0", "m1"], ["y", "x"], 20), (["m0", "m1"], ["x"], 130)]
    ):  # fmt: skip
        bounds = chip(col, 40, 32, 16)
        got = coll.read_window(record_ids=ids, bounds=bounds, bands=bands, **args)
        assert got.shape == (2, len(bands), 16, 32), n
        for t, rid in enumerate(ids):
            for c, band in enumerate(bands):
                want = merged([paths[(rid, band)]], bounds, RES)
                np.testing.assert_array_equal(got[t, c], want, err_msg=f"call {n}")
    assert len(selections) == 3  # (m0 m1, x), (m1 m0, x), (m0 m1, y x)
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="1 of the record_ids .*'gone'"):
            got = coll.read_window(
                record_ids=["m1", "gone"], bounds=chip(0, 0, 8, 8), bands=["y"], **args
            )
        assert got.shape == (1, 1, 8, 8)
    assert len(selections) == 4


def test_bad_arguments_are_named(shifted):
    records, _ = shifted
    ok = dict(record_ids=["r0"], bounds=chip(0, 0, 8, 8), res=(RES, RES), bands=["red"])
    cases = [
        ({"record_ids": []}, "record_ids is empty"),
        ({"record_ids": ["nope"]}, r"no record .*\('nope'\)"),
        ({"bounds": (1, 2, 3)}, "bounds must be 4"),
        ({"bounds": (5, 0, 1, 10)}, "xmin < xmax"),
        ({"res": (10, -1)}, "two positive"),
        ({"bounds": (X0, Y0 - 2, X0 + 2, Y0)}, "no whole pixel"),
        ({"group_by": "month"}, "group_by='month'"),
    ]
    for change, message in cases:
        with pytest.raises(ReadArgumentError, match=message):
            read_window(records, **{**ok, **change})
    with pytest.raises(rasteret.errors.BandNotFoundError, match="B99"):
        read_window(records, **{**ok, "bands": ["B99"]})
    with pytest.warns(RuntimeWarning, match="1 of the record_ids .*'gone'"):
        got = read_window(records, **{**ok, "record_ids": ["r0", "gone"]})
    assert got.shape == (1, 8, 8)


def test_unreadable_record_mosaic_warns_time_series_raises(shifted, tmp_path, served, nginx_root):
    records, paths = shifted
    doomed = write_cog(tmp_path / "d.tif", make_array("uint16", (SIDE, SIDE), seed=9), nodata=0)
    cog = served("chips/doomed.tif", doomed)
    bad = make_record("bad", {"red": (cog.url, 0)})
    (nginx_root / "read-tests" / "chips" / "doomed.tif").unlink()
    both = [*records, bad]
    bounds = chip(20, 20, 32, 32)
    args = dict(record_ids=["bad", "r0"], bounds=bounds, res=(RES, RES), bands=["red"])
    with pytest.warns(RuntimeWarning, match="'bad'.*left out of the mosaic"):
        got = read_window(both, **args)
    np.testing.assert_array_equal(got[0], merged([paths[(0, "red")]], bounds, RES))
    with pytest.raises(ReadError, match="'bad'.*every timestep"):
        read_window(both, **args, group_by="id")
