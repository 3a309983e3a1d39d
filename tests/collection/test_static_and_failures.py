"""Static catalogs (path, file://, HTTP; relative hrefs) and assets that cannot be indexed."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from obstore.store import LocalStore
from tests.collection import data
from tests.collection.conftest import COLLECTION
from tests.collection.truth import assert_same_header, header_from_file

import rasteret
from rasteret.errors import BuildError, StacError
from rasteret.ingest import stac as stac_source
from rasteret.ingest.pipeline import BuildWarning
from rasteret.io import create_backend, default_backend, run_sync


def _build_static(root: str, name: str, **kw):
    return rasteret.build_from_stac(
        name=name,
        stac_api=root,
        collection=COLLECTION,
        static_catalog=True,
        band_map={"R": "red", "N": "nir"},
        **kw,
    )


@pytest.mark.parametrize("form", ["path", "file_url", "http"])
def test_static_catalog_relative_hrefs(form, static_catalog: Path, served):
    root = {
        "path": str(static_catalog),
        "file_url": static_catalog.as_uri(),
        "http": served.url("catalog/catalog.json"),
    }[form]
    coll = _build_static(root, f"static-{form}")
    assert len(coll) == len(served.scenes)
    scene = served.scenes[2]
    record = next(r for r in coll.iter_records(["R"]) if r.record_id == scene.id)
    url = record.bands["R"].url
    if form == "http":
        assert url == served.url(scene.files["B04"])
    else:
        assert Path(url.removeprefix("file://")) == served.path(scene.files["B04"]).resolve()
    assert_same_header(record.bands["R"].header, header_from_file(served.path(scene.files["B04"])))


def test_static_catalog_filters_client_side(static_catalog: Path, served):
    first = served.scenes[0]
    day = first.datetime.date().isoformat()
    coll = _build_static(str(static_catalog), "static-day", date_range=(day, day))
    assert coll.to_table(columns=["id"]).column("id").to_pylist() == [first.id]
    box = first.footprint.centroid.buffer(0.001).bounds
    coll = _build_static(str(static_catalog), "static-bbox", bbox=box)
    assert first.id in coll.to_table(columns=["id"]).column("id").to_pylist()


def test_static_catalog_unknown_collection(static_catalog: Path):
    with pytest.raises(StacError) as err:
        rasteret.build_from_stac(
            name="x", stac_api=str(static_catalog), collection="other", static_catalog=True
        )
    assert "other" in str(err.value) and COLLECTION in str(err.value)


def test_local_catalog_nodes_are_read_from_disk_only_by_the_default_routing(
    static_catalog: Path, tmp_path: Path
):
    """Local nodes skip the object store (cheaper) only where the backend would read the same
    file from the disk anyway; a custom store keeps every read."""
    default = default_backend()
    assert stac_source._reads_disk(default, str(static_catalog))
    assert stac_source._reads_disk(default, static_catalog.as_uri())
    assert not stac_source._reads_disk(default, "https://127.0.0.1:9/catalog.json")
    custom = create_backend(store=LocalStore(str(static_catalog.parent)))
    assert not stac_source._reads_disk(custom, "catalog.json")
    spaced = tmp_path / "a dir" / "catalog.json"
    spaced.parent.mkdir()
    spaced.write_text(json.dumps({"type": "Catalog", "id": "c", "links": []}))
    items = run_sync(stac_source.crawl_catalog(spaced.as_uri(), default))
    assert items == []


def test_static_catalog_missing_root_names_it(tmp_path: Path):
    missing = tmp_path / "nowhere" / "catalog.json"
    with pytest.raises(StacError) as err:
        rasteret.build_from_stac(
            name="x", stac_api=str(missing), collection="c", static_catalog=True
        )
    assert "catalog.json" in str(err.value)


def test_unreadable_assets_are_reported_not_dropped(scenes_copy: Path, served):
    scenes = served.scenes
    (scenes_copy / scenes[1].files["B04"]).unlink()  # 404
    (scenes_copy / scenes[2].files["B08"]).write_bytes(b"not a tiff at all" * 10)  # corrupt
    catalog = data.write_static_catalog(scenes_copy, scenes, COLLECTION)
    with pytest.warns(BuildWarning) as caught:
        coll = _build_static(str(catalog), "partial")
    message = str(caught[0].message)
    assert scenes[1].id in message and "B04.tif" in message
    assert scenes[2].id in message and "B08.tif" in message
    assert len(coll) == len(scenes)  # rows kept
    failed = {(f.record_id, f.band) for f in coll.build_report.failures}
    assert failed == {(scenes[1].id, "R"), (scenes[2].id, "N")}
    reasons = {f.record_id: f.reason for f in coll.build_report.failures}
    assert "does not exist" in reasons[scenes[1].id]
    records = {r.record_id: r for r in coll.iter_records(["R", "N"])}
    assert set(records[scenes[1].id].bands) == {"N"}
    assert set(records[scenes[2].id].bands) == {"R"}
    assert set(records[scenes[0].id].bands) == {"R", "N"}
    # the report survives a reload
    again = rasteret.load(coll.path)
    assert {(f.record_id, f.band) for f in again.build_report.failures} == failed
    assert again.describe()["failed_assets"] == 2


def test_strict_turns_failures_into_an_error(scenes_copy: Path, served, workspace: Path):
    (scenes_copy / served.scenes[1].files["B04"]).unlink()
    catalog = data.write_static_catalog(scenes_copy, served.scenes, COLLECTION)
    with pytest.raises(BuildError) as err:
        _build_static(str(catalog), "strict", strict=True)
    assert served.scenes[1].id in str(err.value)
    assert not list(workspace.glob("strict*")), "nothing written"
    assert (
        not [p for p in workspace.iterdir() if p.name.startswith(".")]
        if workspace.exists()
        else True
    )


def test_all_assets_failing_is_an_error(scenes_copy: Path, served, workspace: Path):
    for scene in served.scenes:
        for rel in scene.files.values():
            (scenes_copy / rel).unlink()
    catalog = data.write_static_catalog(scenes_copy, served.scenes, COLLECTION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BuildWarning)
        with pytest.raises(BuildError, match="no asset could be indexed"):
            _build_static(str(catalog), "allfail")
    assert not workspace.exists() or not any(workspace.iterdir())


def test_stac_raster_bands_override_header_values(scenes_copy: Path, served):
    catalog = data.write_static_catalog(scenes_copy, served.scenes, COLLECTION)
    first = served.scenes[0]
    item_path = catalog.parent / COLLECTION / first.id / f"{first.id}.json"
    item = json.loads(item_path.read_text())
    item["assets"]["red"]["raster:bands"] = [{"nodata": 65535, "scale": 0.0001, "offset": -0.1}]
    item_path.write_text(json.dumps(item))
    coll = _build_static(str(catalog), "raster-bands")
    records = {r.record_id: r for r in coll.iter_records(["R", "N"])}
    red = records[first.id].bands["R"]
    assert (red.nodata, red.scale, red.offset) == (65535, 0.0001, -0.1)
    nir = records[first.id].bands["N"]  # no raster:bands: the file's own values
    assert (nir.nodata, nir.scale, nir.offset) == (0, 1.0, 0.0)
    other = records[served.scenes[1].id].bands["R"]
    assert (other.nodata, other.scale, other.offset) == (0, 1.0, 0.0)
