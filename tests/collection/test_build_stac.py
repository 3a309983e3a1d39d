"""build_from_stac against a real STAC API (stac-fastapi-pgstac) with COGs served by nginx."""

from __future__ import annotations

import urllib.request

import pytest
from tests.collection.conftest import COLLECTION, NGINX_DIR
from tests.collection.data import ASSET_KEYS, BANDS
from tests.collection.truth import assert_same_header, header_from_file

import rasteret
from rasteret.errors import BuildError, StacError

BAND_MAP = {band: ASSET_KEYS[band] for band in BANDS}  # B02 -> blue ...
EVERYWHERE = (11.5, 44.5, 12.5, 45.5)
ALL_DATES = ("2024-01-01", "2024-12-31")


def _etag(url: str) -> str:
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["ETag"]


def test_headers_match_ground_truth(stac_api, served):
    coll = rasteret.build_from_stac(
        name="truth",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map=BAND_MAP,
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
    )
    assert len(coll) == len(served.scenes)
    assert coll.bands == list(BANDS)
    assert coll.build_report.ok
    assert coll.build_report.files == len(served.scenes) * len(BANDS)
    by_id = {s.id: s for s in served.scenes}
    for record in coll.iter_records(list(BANDS)):
        scene = by_id[record.record_id]
        assert record.datetime == scene.datetime
        assert record.properties["eo:cloud_cover"] == scene.cloud_cover
        assert record.properties["proj:epsg"] == scene.epsg
        for band in BANDS:
            ref = record.bands[band]
            rel = scene.files[band]
            assert ref.url == served.url(rel)
            assert ref.band_index == 0
            assert ref.nodata == 0
            assert_same_header(ref.header, header_from_file(served.path(rel)))
            assert ref.header.etag == _etag(ref.url)  # reads detect a replaced file
    assert sorted(coll.epsg) == [32632, 32633]


def test_multiband_cog_shares_one_header(stac_api, served):
    coll = rasteret.build_from_stac(
        name="multiband",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map={"R": "image", "G": "image", "B": "image", "NIR": "image"},
        band_index_map={"R": 2, "G": 1, "B": 0, "NIR": 3},
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
    )
    assert coll.build_report.files == len(served.scenes)
    table = coll.to_table(columns=["R_metadata", "G_metadata"])
    assert all(v["images"] for v in table.column("R_metadata").to_pylist())
    assert all(v["images"] is None for v in table.column("G_metadata").to_pylist())
    assert {v["header_of"] for v in table.column("G_metadata").to_pylist()} == {"R"}
    scene = served.scenes[0]
    record = next(r for r in coll.iter_records(["NIR", "G"]) if r.record_id == scene.id)
    assert record.bands["NIR"].band_index == 3 and record.bands["G"].band_index == 1
    assert record.bands["NIR"].header is record.bands["G"].header
    assert_same_header(
        record.bands["G"].header, header_from_file(served.path(scene.files["image"]))
    )


def test_without_band_map_every_cog_asset_is_a_band(stac_api):
    coll = rasteret.build_from_stac(
        name="seedless",
        stac_api=stac_api,
        collection=COLLECTION,
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
    )
    # asset keys as band codes; the png thumbnail is not a COG
    assert sorted(coll.bands) == ["blue", "green", "image", "nir", "red"]


def test_registered_descriptor_band_map_is_used(stac_api):
    rasteret.register(
        rasteret.DatasetDescriptor(
            id="test/synth",
            stac_api=stac_api,
            stac_collection=COLLECTION,
            band_map={"RED": "red", "NIR": "nir"},
        )
    )
    coll = rasteret.build_from_stac(
        name="registered",
        stac_api=stac_api,
        collection=COLLECTION,
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
    )
    assert coll.bands == ["RED", "NIR"]


def test_search_filters(stac_api, served):
    first = served.scenes[0]
    # the end day is inclusive: the first scene is at 10:30 on its date
    day = first.datetime.date().isoformat()
    one = rasteret.build_from_stac(
        name="oneday",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map={"R": "red"},
        bbox=EVERYWHERE,
        date_range=(day, day),
    )
    assert [r.record_id for r in one.iter_records(["R"])] == [first.id]
    cloudy_limit = 50
    clear = [s.id for s in served.scenes if s.cloud_cover < cloudy_limit]
    q = rasteret.build_from_stac(
        name="query",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map={"R": "red"},
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
        query={"eo:cloud_cover": {"lt": cloudy_limit}},
    )
    assert sorted(q.to_table(columns=["id"]).column("id").to_pylist()) == sorted(clear)
    cql = rasteret.build_from_stac(
        name="cql2",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map={"R": "red"},
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
        query={"op": "<", "args": [{"property": "eo:cloud_cover"}, cloudy_limit]},
    )
    assert sorted(cql.to_table(columns=["id"]).column("id").to_pylist()) == sorted(clear)
    capped = rasteret.build_from_stac(
        name="capped",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map={"R": "red"},
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
        query={"max_items": 2},
    )
    assert len(capped) == 2


def test_cache_reuses_only_identical_inputs(stac_api, nginx_server, workspace):
    kwargs = dict(
        name="cached",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map={"R": "red"},
        bbox=EVERYWHERE,
        date_range=ALL_DATES,
    )
    first = rasteret.build_from_stac(**kwargs)
    first_len = len(first)
    mark = nginx_server.mark()
    again = rasteret.build_from_stac(**kwargs)
    assert again.info.build_key == first.info.build_key
    assert not [r for r in nginx_server.requests(since=mark) if NGINX_DIR in r["path"]]
    narrower = rasteret.build_from_stac(**{**kwargs, "bbox": (11.99, 44.99, 12.01, 45.01)})
    assert len(narrower) < first_len
    assert rasteret.load(workspace / "cached_stac").info.build_key == narrower.info.build_key
    other_bands = rasteret.build_from_stac(**{**kwargs, "band_map": {"N": "nir"}})
    assert other_bands.bands == ["N"]
    mark = nginx_server.mark()
    forced = rasteret.build_from_stac(**{**kwargs, "band_map": {"N": "nir"}, "force": True})
    assert forced.bands == ["N"]
    assert [r for r in nginx_server.requests(since=mark) if NGINX_DIR in r["path"]]


def test_band_missing_from_items_lists_existing_asset_keys(stac_api):
    with pytest.raises(BuildError) as err:
        rasteret.build_from_stac(
            name="missing",
            stac_api=stac_api,
            collection=COLLECTION,
            band_map={"R": "red", "SWIR": "swir16"},
            bbox=EVERYWHERE,
            date_range=ALL_DATES,
        )
    text = str(err.value)
    assert "swir16" in text and "SWIR" in text
    for key in ("blue", "green", "red", "nir", "image"):
        assert key in text


def test_unknown_collection_names_the_existing_ones(stac_api):
    with pytest.raises(StacError) as err:
        rasteret.build_from_stac(
            name="nope",
            stac_api=stac_api,
            collection="no-such-collection",
            bbox=EVERYWHERE,
            date_range=ALL_DATES,
        )
    assert "no-such-collection" in str(err.value)
    assert COLLECTION in str(err.value)


def test_unreachable_api_names_the_url_quickly():
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/stac"
    started = time.monotonic()
    with pytest.raises(StacError) as err:
        rasteret.build_from_stac(
            name="down",
            stac_api=url,
            collection=COLLECTION,
            bbox=EVERYWHERE,
            date_range=ALL_DATES,
        )
    assert url in str(err.value)
    assert time.monotonic() - started < 30


def test_bad_arguments_are_rejected_before_any_request():
    with pytest.raises(BuildError, match="west < east"):
        rasteret.build_from_stac(
            name="x", stac_api="http://127.0.0.1:9", collection="c", bbox=(1, 0, 0, 1)
        )
    with pytest.raises(BuildError, match="starts after it ends"):
        rasteret.build_from_stac(
            name="x",
            stac_api="http://127.0.0.1:9",
            collection="c",
            date_range=("2024-02-01", "2024-01-01"),
        )
    with pytest.raises(BuildError, match="name"):
        rasteret.build_from_stac(name="", stac_api="http://127.0.0.1:9", collection="c")


def test_silent_api_times_out_naming_the_url(monkeypatch):
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts connections, never answers
    url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    monkeypatch.setenv("RASTERET_STAC_TIMEOUT", "1")
    started = time.monotonic()
    try:
        with pytest.raises(StacError) as err:
            rasteret.build_from_stac(
                name="silent",
                stac_api=url,
                collection=COLLECTION,
                bbox=EVERYWHERE,
                date_range=ALL_DATES,
            )
    finally:
        server.close()
    assert url in str(err.value)
    assert time.monotonic() - started < 10
