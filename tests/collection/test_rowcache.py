"""The in-memory rows behind iter_records: views share them, headers are rebuilt once per row,
and every record equals what the files say (tifffile + rasterio) with and without the cache."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow.compute as pc
import pytest
import shapely
from tests.collection.conftest import COLLECTION
from tests.collection.truth import assert_same_header, header_from_file

import rasteret
from rasteret.ingest import rowcache

BAND_MAP = {"B02": "blue", "B04": "red", "R": "image", "NIR": "image"}
BAND_FILE = {"B02": "B02", "B04": "B04", "R": "image", "NIR": "image"}
BAND_INDEX = {"B02": 0, "B04": 0, "R": 2, "NIR": 3}


@pytest.fixture(scope="module")
def path(stac_api, tmp_path_factory) -> str:
    built = rasteret.build_from_stac(
        name="rows",
        stac_api=stac_api,
        collection=COLLECTION,
        band_map=BAND_MAP,
        band_index_map={"R": 2, "NIR": 3},
        bbox=(11.5, 44.5, 12.5, 45.5),
        date_range=("2024-01-01", "2024-12-31"),
        workspace_dir=tmp_path_factory.mktemp("rows-ws"),
    )
    return built.path


@pytest.fixture(scope="module")
def truth(served) -> dict[tuple[str, str], object]:
    """(scene id, file key) -> the header tifffile + rasterio read from the served file."""
    return {
        (s.id, key): header_from_file(served.path(rel), served.url(rel))
        for s in served.scenes
        for key, rel in s.files.items()
    }


def check(records, bands, served, truth) -> set[str]:
    """Every record's bands point at the right file and sample, with the file's header."""
    by_id = {s.id: s for s in served.scenes}
    for r in records:
        scene = by_id[r.record_id]
        assert r.datetime == scene.datetime
        assert r.properties["eo:cloud_cover"] == scene.cloud_cover
        assert shapely.from_wkb(r.geometry).equals_exact(scene.footprint, tolerance=1e-9)
        assert set(r.bands) == set(bands)
        for b in bands:
            ref = r.bands[b]
            key = BAND_FILE[b]
            assert ref.url == served.url(scene.files[key])
            assert ref.band_index == BAND_INDEX[b] and ref.nodata == 0
            assert (ref.scale, ref.offset) == (1.0, 0.0)
            assert_same_header(ref.header, truth[(scene.id, key)])
    return {r.record_id for r in records}


def expected_ids(served, keep) -> set[str]:
    return {s.id for s in served.scenes if keep(s)}


def test_views_read_the_right_rows_from_the_shared_cache(path, served, truth):
    coll = rasteret.load(path)
    everything = check(list(coll.iter_records(["B04", "NIR"])), ["B04", "NIR"], served, truth)
    assert everything == expected_ids(served, lambda s: True)

    cloudy = coll.where(pc.field("eo:cloud_cover") >= 50)
    assert cloudy._rows is coll._rows
    got = check(list(cloudy.iter_records(["B04", "NIR"])), ["B04", "NIR"], served, truth)
    assert got == expected_ids(served, lambda s: s.cloud_cover >= 50)

    # a view of a view, and bands not read before (loaded into the cache afterwards)
    first = served.scenes[0]
    box = first.footprint.centroid.buffer(0.001).bounds
    narrow = cloudy.subset(bbox=box) if first.cloud_cover >= 50 else coll.subset(bbox=box)
    bands = ["B02", "R", "B04"]
    got = check(list(narrow.iter_records(bands)), bands, served, truth)
    assert first.id in got
    assert got == expected_ids(
        served,
        lambda s: (
            s.footprint.intersects(shapely.box(*box))
            and (s.cloud_cover >= 50 or first.cloud_cover < 50)
        ),
    )
    assert not coll._rows._disabled


def test_headers_are_rebuilt_once_per_row(path):
    coll = rasteret.load(path)
    a = {r.record_id: r for r in coll.iter_records(["B04", "R", "NIR"])}
    b = {
        r.record_id: r
        for r in coll.where(pc.field("eo:cloud_cover") >= 0).iter_records(["B04", "NIR"])
    }
    assert a.keys() == b.keys()
    for rid, rec in b.items():
        assert rec.bands["B04"].header is a[rid].bands["B04"].header
        # bands of one multi-band file share its header object
        assert rec.bands["NIR"].header is a[rid].bands["R"].header
    # a separately loaded collection has its own cache (no state across loads)
    other = next(rasteret.load(path).iter_records(["B04"]))
    assert other.bands["B04"].header is not a[other.record_id].bands["B04"].header


def test_filter_on_a_header_column_scans_the_dataset(path, served, truth):
    coll = rasteret.load(path)
    list(coll.iter_records(["B04"]))  # cache holds B04 only
    view = coll.where(pc.field("B02_metadata", "width") > 0)
    got = check(list(view.iter_records(["B04"])), ["B04"], served, truth)
    assert got == expected_ids(served, lambda s: True)


@pytest.mark.parametrize("bound", ["MAX_ROWS", "MAX_BYTES"])
def test_collections_over_the_bounds_are_scanned(path, served, truth, bound, monkeypatch):
    monkeypatch.setattr(rowcache, bound, 2)
    coll = rasteret.load(path)
    view = coll.subset(cloud_cover_lt=50)
    got = check(list(view.iter_records(["B04", "NIR"])), ["B04", "NIR"], served, truth)
    assert got == expected_ids(served, lambda s: s.cloud_cover < 50)
    assert coll._rows._disabled


def test_header_cache_is_bounded(path, served, truth, monkeypatch):
    monkeypatch.setattr(rowcache, "MAX_HEADERS", 3)
    coll = rasteret.load(path)
    for _ in range(2):
        check(list(coll.iter_records(["B02", "B04"])), ["B02", "B04"], served, truth)
    assert len(coll._rows._decoded) <= 3


def test_in_memory_collections_use_the_cache(path, served, truth, tmp_path: Path):
    table = rasteret.load(path).to_table()
    coll = rasteret.as_collection(table, name="mem")
    view = coll.subset(cloud_cover_lt=50)
    got = check(list(view.iter_records(["R", "B02"])), ["R", "B02"], served, truth)
    assert got == expected_ids(served, lambda s: s.cloud_cover < 50)
    assert view._rows is coll._rows and not coll._rows._disabled


def test_collections_pickle_without_their_cache(path, served, truth):
    coll = rasteret.load(path)
    view = coll.subset(cloud_cover_lt=50)
    list(view.iter_records(["B04"]))
    copy = pickle.loads(pickle.dumps(view))
    assert copy._rows is not view._rows and copy._rows._base is None
    got = check(list(copy.iter_records(["B04", "R"])), ["B04", "R"], served, truth)
    assert got == expected_ids(served, lambda s: s.cloud_cover < 50)
    assert len(copy) == len(view) and copy.to_table().equals(view.to_table())
    narrower = copy.where(pc.field("eo:cloud_cover") < 25)
    got = check(list(narrower.iter_records(["B02"])), ["B02"], served, truth)
    assert got == expected_ids(served, lambda s: s.cloud_cover < 25)
    root = pickle.loads(pickle.dumps(coll))
    assert len(root) == len(coll) and root._filter is None
