"""How reads use the network: no header requests, bounded request counts, shared tiles fetched
once, replaced files detected; and how they fail: clear errors, warnings naming records."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely
from shapely.geometry import mapping

from rasteret.errors import BandNotFoundError, ObjectChangedError, ReadError
from rasteret.read import aget_numpy, get_gdf, get_numpy, get_xarray
from tests.read.conftest import BUCKET, make_array, make_record, write_cog

# 256 x 256 px rasters with 128 px tiles: this AOI touches all four tiles.
AOI = shapely.box(500500.0, 4997500.0, 502100.0, 4999500.0)


@pytest.fixture(scope="module")
def ten_records(tmp_path_factory, served):
    root = tmp_path_factory.mktemp("ten")
    records, paths = [], []
    for i in range(10):
        bands = {}
        for b in ("red", "nir"):
            data = make_array("uint16", (256, 256), seed=100 + 2 * i + (b == "nir"))
            path = write_cog(root / f"t{i}_{b}.tif", data, overviews=False)
            cog = served(f"ten/t{i}_{b}.tif", path)
            bands[b] = (cog.url, 0)
            paths.append(path)
        records.append(make_record(f"s{i}", bands, when=dt.datetime(2024, 1, 1 + i)))
    return records, paths


def _ranges(entries):
    return [tuple(int(v) for v in e["range"].removeprefix("bytes=").split("-")) for e in entries]


@pytest.mark.parametrize("gap", [0, None])
def test_four_tiles_two_bands_ten_records_at_most_80_requests(ten_records, nginx_server, gap):
    records, paths = ten_records
    mark = nginx_server.mark()
    arr = get_numpy(records, AOI, ["red", "nir"], geometry_crs=32633, coalesce_gap=gap)
    entries = [e for e in nginx_server.requests(since=mark) if "/ten/" in e["path"]]
    assert arr.shape == (10, 2, 200, 160)
    assert all(e["method"] == "GET" and e["range"] for e in entries)  # no HEAD, no full GET
    header_end = min(int(r.bands["red"].header.images[0].offsets.min()) for r in records)
    assert all(start >= header_end for start, _ in _ranges(entries)), "a header was re-read"
    assert len(entries) <= 80
    assert len({e["path"] for e in entries}) == 20
    for i, path in enumerate(paths[:2]):
        with rasterio.open(path) as src:
            want, _ = rasterio.mask.mask(src, [mapping(AOI)], crop=True, indexes=1)
        np.testing.assert_array_equal(arr[0, i], want)


def test_a_tile_shared_by_bands_is_fetched_once(cogs, nginx_server):
    cog = cogs["rgb_pixel"]
    record = make_record("r", {"r": (cog.url, 0), "g": (cog.url, 1), "b": (cog.url, 2)})
    mark = nginx_server.mark()
    get_numpy([record], AOI, ["r", "g", "b"], geometry_crs=32633, coalesce_gap=0)
    ranges = sorted(
        _ranges(e for e in nginx_server.requests(since=mark) if e["path"].endswith(cog.name))
    )
    fetched = sum(end - start + 1 for start, end in ranges)
    layout = record.bands["r"].header.images[0]
    tiles = [layout.block_index(r, c) for r in range(0, 2) for c in range(0, 2)]
    wanted = sum(int(layout.byte_counts[t]) for t in tiles)
    assert all(b[0] > a[1] for a, b in zip(ranges, ranges[1:], strict=False)), "overlap"
    assert fetched == wanted


def test_replaced_file_is_detected(tmp_path, served, nginx_root):
    first = write_cog(tmp_path / "v1.tif", make_array("uint8", (256, 256), seed=1))
    cog = served("replaced.tif", first)
    record = make_record("r", {"b": (cog.url, 0)})
    assert record.bands["b"].header.etag
    second = write_cog(tmp_path / "v2.tif", make_array("uint8", (256, 256), seed=2))
    served("replaced.tif", second)
    # nginx's ETag is mtime + size: give the replacement another mtime for sure.
    os.utime(nginx_root / BUCKET / "replaced.tif", (1_000_000_000, 1_000_000_000))
    with pytest.raises(ObjectChangedError, match="changed since the collection was built"):
        get_numpy([record], AOI, "b", geometry_crs=32633)


def test_unknown_band_lists_the_bands(cogs):
    record = make_record("r", {"red": (cogs["u8"].url, 0), "nir": (cogs["u16"].url, 0)})
    with pytest.raises(BandNotFoundError, match=r"\['B99'\].*\['nir', 'red'\]"):
        get_numpy([record], AOI, ["red", "B99"], geometry_crs=32633)


def test_aoi_touching_no_record_is_empty_with_warning(cogs):
    record = make_record("r", {"b": (cogs["u8"].url, 0)})
    far = shapely.box(600000, 4000000, 600100, 4000100)
    with pytest.warns(RuntimeWarning, match="touch no pixel"):
        arr = get_numpy([record], far, "b", geometry_crs=32633)
    assert arr.shape == (0, 0, 0)
    with pytest.warns(RuntimeWarning, match="touch no pixel"):
        assert len(get_gdf([record], far, "b", geometry_crs=32633)) == 0
    with pytest.warns(RuntimeWarning, match="touch no pixel"):
        assert len(get_xarray([record], far, "b", geometry_crs=32633).data_vars) == 0


def test_failing_record_is_named_and_others_are_read(cogs, served, tmp_path, nginx_root):
    good = make_record("good", {"b": (cogs["u8"].url, 0)})
    doomed = write_cog(tmp_path / "doomed.tif", make_array("uint8", (500, 600), seed=3))
    gone = served("doomed.tif", doomed)
    bad = make_record("bad", {"b": (gone.url, 0)})
    (nginx_root / BUCKET / "doomed.tif").unlink()  # deleted after the collection was built
    with pytest.warns(RuntimeWarning, match=r"1 record\(s\) could not be read: 'bad'"):
        arr = get_numpy([good, bad], AOI, "b", geometry_crs=32633)
    assert arr.shape[0] == 1
    with pytest.raises(ReadError, match="'bad'"):
        get_numpy([good, bad], AOI, "b", geometry_crs=32633, strict=True)


def test_sync_api_works_inside_a_running_event_loop(cogs):
    record = make_record("r", {"b": (cogs["u8"].url, 0)})

    async def notebook_cell():
        return get_numpy([record], AOI, "b", geometry_crs=32633)

    arr = asyncio.run(notebook_cell())
    assert arr.shape == (1, 200, 160)


def test_async_variant(cogs):
    record = make_record("r", {"b": (cogs["u8"].url, 0)})
    arr = asyncio.run(aget_numpy([record], AOI, "b", geometry_crs=32633, max_concurrent=1))
    with rasterio.open(cogs["u8"].path) as src:
        want, _ = rasterio.mask.mask(src, [mapping(AOI)], crop=True, indexes=1)
    np.testing.assert_array_equal(arr[0], want)


def test_moto_s3_parity(cogs, moto_server):
    from rasteret.io import Backend

    moto_server.create_bucket("read-tests-s3")
    moto_server.upload("read-tests-s3", "scenes/u16_nd.tif", cogs["u16_nd"].path)
    backend = Backend(
        s3_config={
            "endpoint": moto_server.endpoint,
            "access_key_id": "test",
            "secret_access_key": "test",
            "region": "us-east-1",
        }
    )
    url = "s3://read-tests-s3/scenes/u16_nd.tif"
    record = make_record("s3", {"b": (url, 0)}, backend=backend)
    aoi = shapely.Polygon(
        [(500333.3, 4999777.7), (502777.7, 4999555.5), (503111.1, 4997222.2), (501111.1, 4996666.6)]
    )
    got = get_numpy([record], aoi, "b", geometry_crs=32633, backend=backend, all_touched=True)
    with rasterio.open(cogs["u16_nd"].path) as src:
        want, _ = rasterio.mask.mask(src, [mapping(aoi)], crop=True, all_touched=True, indexes=1)
    np.testing.assert_array_equal(got[0], want)


def test_concurrent_callers_from_threads(cogs):
    from concurrent.futures import ThreadPoolExecutor

    records = [make_record(n, {"b": (cogs[n].url, 0)}) for n in ("u8", "u16", "i16_nd")]
    lonlat = shapely.box(15.005, 45.126, 15.03, 45.14)

    def call(i):
        if i % 2:
            return asyncio.run(aget_numpy(records, lonlat, "b"))
        return get_numpy(records, lonlat, "b")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(8)))
    for arr in results[1:]:
        np.testing.assert_array_equal(arr, results[0])
    assert results[0].shape[0] == 3


def test_record_without_crs_is_named(cogs, tmp_path, served):
    plain = served(
        "nocrs.tif",
        write_cog(
            tmp_path / "n.tif", make_array("uint8", (256, 256), 4), crs=None, overviews=False
        ),
    )
    good = make_record("good", {"b": (cogs["u8"].url, 0)})
    bad = make_record("nocrs", {"b": (plain.url, 0)})
    assert bad.bands["b"].header.crs is None
    with pytest.warns(RuntimeWarning, match="'nocrs'.*no CRS"):
        arr = get_numpy([good, bad], AOI, "b", geometry_crs=32633)
    assert arr.shape[0] == 1


def test_backend_choice_order():
    from types import SimpleNamespace

    from rasteret.io import CloudConfig, create_backend
    from rasteret.read.api import _backend

    own = create_backend()
    coll = SimpleNamespace(backend=own, data_source="nowhere")
    passed = create_backend()
    assert _backend(coll, passed, None, None) is passed
    assert _backend(coll, None, None, None) is own  # the build's backend (its credentials)
    config = CloudConfig(region="eu-west-1")
    made = _backend(coll, None, config, None)
    assert made is not own and made is _backend(coll, None, config, None)  # one per config
    assert made.cloud_config.region == "eu-west-1"
    assert _backend(SimpleNamespace(), None, None, None) is None
    custom = object()  # not a rasteret Backend: used as given
    assert _backend(coll, custom, config, None) is custom


def test_warnings_point_at_the_callers_line(cogs):
    record = make_record("r", {"b": (cogs["u8"].url, 0)})
    far = shapely.box(600000, 4000000, 600100, 4000100)
    with pytest.warns(RuntimeWarning, match="touch no pixel") as caught:
        get_numpy([record], far, "b", geometry_crs=32633)
    assert caught[0].filename == __file__

    async def cell():
        return await aget_numpy([record], far, "b", geometry_crs=32633)

    with pytest.warns(RuntimeWarning, match="touch no pixel") as caught:
        asyncio.run(cell())
    assert caught[0].filename == __file__


def test_reads_leave_the_process_warning_filters_alone(cogs):
    """rasterio's rasterize/reproject swap the global warning filters; parallel finishing must
    not leave a stale filter behind (it would silence every later warning)."""
    import warnings

    records = [make_record(n, {"b": (cogs[n].url, 0)}) for n in ("u8", "u16", "i16_nd", "f32")]
    aois = [shapely.box(500000 + 300 * i, 4997000, 500900 + 300 * i, 4999000) for i in range(6)]
    before = list(warnings.filters)
    for _ in range(5):
        get_numpy(records, aois, "b", geometry_crs=32633, target_crs=3857, resolution=15.0)
        assert warnings.filters == before
