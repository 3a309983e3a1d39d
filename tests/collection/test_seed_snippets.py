"""The seed document's snippets about building, exporting, register_local and reloading, run as
written against local servers. Only URLs differ (the STAC API, S3 endpoint and HTTP host are
127.0.0.1 servers); bboxes, dates, ids and names are the seed's own, so the test data is placed
where and when the snippets look. The descriptors are the document's, written once in
:mod:`tests.catalog.seed_doc` (which tests/catalog runs with the document's own URLs)."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from tests.catalog import seed_doc
from tests.collection import data
from tests.collection.truth import assert_same_header, header_from_file

import rasteret

MUNICH = (11.32, 48.28)
WASHINGTON = (-77.08, 38.98)


@dataclass
class SeedWorld:
    stac_api: str
    nginx_url: str
    root: Path
    field: list[data.Scene]
    s2: list[data.Scene]
    internal: list[data.Scene]


def _upload_tree(moto, bucket: str, root: Path, rel_files: list[str]) -> None:
    for rel in rel_files:
        moto.upload(bucket, rel, root / rel)


@pytest.fixture(scope="module")
def seed(stac_server, moto_server, nginx_server, nginx_root: Path) -> SeedWorld:
    root = nginx_root / "rt-seed"
    june = dt.datetime(2024, 6, 3, 10, 0, tzinfo=dt.UTC)
    field = data.make_scenes(
        root, 3, prefix="seed-field", start=june, step_days=30, origin=MUNICH, zones=(32632,)
    )
    s2 = data.make_scenes(
        root,
        3,
        prefix="seed-s2",
        start=dt.datetime(2024, 1, 20, 10, tzinfo=dt.UTC),
        step_days=50,
        origin=MUNICH,
        zones=(32632, 32633),
    )
    internal = data.make_scenes(
        root,
        2,
        prefix="seed-internal",
        start=june,
        step_days=40,
        origin=WASHINGTON,
        zones=(32618,),
    )
    http = f"{nginx_server.url}/rt-seed"
    stac_server.add_collections(
        [
            data.stac_collection("field-survey-2024", field),
            data.stac_collection("sentinel-2-l2a", s2),
            data.stac_collection("internal-2024", internal),
        ]
    )
    moto_server.create_bucket("internal-imagery")
    _upload_tree(
        moto_server, "internal-imagery", root, [rel for s in internal for rel in s.files.values()]
    )
    items = [
        data.stac_item(s, lambda rel: f"{http}/{rel}", collection="field-survey-2024")
        for s in field
    ]
    items += [
        data.stac_item(s, lambda rel: f"{http}/{rel}", collection="sentinel-2-l2a") for s in s2
    ]
    items += [
        data.stac_item(s, lambda rel: f"s3://internal-imagery/{rel}", collection="internal-2024")
        for s in internal
    ]
    stac_server.add_items(items)
    return SeedWorld(stac_server.url, http, root, field, s2, internal)


def test_quick_start_register_and_build(seed: SeedWorld):
    import rasteret

    descriptor = seed_doc.field_survey(stac_api=seed.stac_api)
    # Register it
    rasteret.register(descriptor)
    # Use it
    collection = rasteret.build(
        "acme/field-survey-2024",
        name="field-001",
        bbox=(11.3, 48.1, 11.5, 48.3),
        date_range=("2024-06-01", "2024-08-31"),
    )
    assert sorted(collection.to_table(columns=["id"]).column("id").to_pylist()) == [
        s.id for s in seed.field
    ]
    assert collection.bands == ["R", "G", "B", "NIR"]
    assert collection.data_source == "acme/field-survey-2024"
    scene = seed.field[0]
    record = next(r for r in collection.iter_records(["NIR"]) if r.record_id == scene.id)
    assert_same_header(record.bands["NIR"].header, header_from_file(seed.root / scene.files["B08"]))


def test_register_local_export_and_reload(seed: SeedWorld, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from pathlib import Path

    # Build a Collection
    collection = rasteret.build_from_stac(
        name="my-local-collection",
        stac_api=seed.stac_api,
        collection="sentinel-2-l2a",
        bbox=(11.3, 48.1, 11.5, 48.3),
        date_range=("2024-01-01", "2024-06-30"),
    )
    # Export it
    export_path = Path("./collections/my_local_collection")
    collection.export(export_path)
    # Register it
    descriptor = rasteret.register_local(
        dataset_id="local/my-collection",
        path=export_path,
        description="My analysis-ready collection",
    )
    # Now you can load it by ID
    reloaded = rasteret.build("local/my-collection", name="reloaded")

    assert descriptor.id == "local/my-collection" and descriptor.spatial_coverage == "local"
    assert Path(descriptor.collection_uri) == (tmp_path / export_path).resolve()
    days = sorted(s.datetime.date().isoformat() for s in seed.s2)
    assert descriptor.temporal_range == (days[0], days[-1])
    assert reloaded.name == "reloaded"
    assert len(reloaded) == len(collection) == len(seed.s2)
    assert reloaded.bands == collection.bands
    want = {r.record_id: r for r in collection.iter_records(collection.bands)}
    for r in reloaded.iter_records(reloaded.bands):
        for band, ref in r.bands.items():
            assert ref.url == want[r.record_id].bands[band].url
            assert_same_header(ref.header, want[r.record_id].bands[band].header)
    # persisted: a later session (a fresh read of the local registry) finds it
    from rasteret.catalog import load_local_descriptors

    assert "local/my-collection" in [d.id for d in load_local_descriptors()]
    assert len(rasteret.load("local/my-collection")) == len(seed.s2)

    # Sharing: export to JSON, import from JSON
    from rasteret.catalog import export_local_descriptor

    export_path = export_local_descriptor(
        dataset_id="local/my-collection",
        output_path=Path("./shared/my_collection_descriptor.json"),
    )
    print(f"Exported to {export_path}")

    from rasteret import DatasetDescriptor

    with open("shared/my_collection_descriptor.json") as f:
        data_ = json.load(f)
    descriptor = DatasetDescriptor(**data_)
    rasteret.register(descriptor)
    assert len(rasteret.build("local/my-collection", name="again")) == len(seed.s2)

    # Unregister from local persistent registry
    from rasteret.catalog import unregister_local_descriptor

    unregister_local_descriptor("local/my-collection")
    assert "local/my-collection" not in [d.id for d in load_local_descriptors()]
    with pytest.raises(KeyError):
        rasteret.build("local/my-collection", name="gone")


def test_multi_band_cog_descriptor(seed: SeedWorld):
    rasteret.register(seed_doc.naip_custom(seed.stac_api, stac_collection="field-survey-2024"))
    coll = rasteret.build(
        "my-org/naip-custom",
        name="naip",
        bbox=(11.3, 48.1, 11.5, 48.3),
        date_range=("2024-06-01", "2024-08-31"),
    )
    assert coll.build_report.files == len(seed.field)  # one header per multi-band file
    record = next(coll.iter_records(["NIR", "R"]))
    assert (record.bands["R"].band_index, record.bands["NIR"].band_index) == (0, 3)
    assert record.bands["R"].header is record.bands["NIR"].header


def test_private_stac_api_with_backend(seed: SeedWorld, s3_env):
    import rasteret

    descriptor = seed_doc.internal_imagery(stac_api=seed.stac_api)
    # Register it
    rasteret.register(descriptor)
    # Use with credentials
    from obstore.store import S3Store  # noqa: F401 - as in the seed

    backend = rasteret.create_backend(
        default_s3_config={"region": "us-east-1"},
    )
    collection = rasteret.build(
        "mycompany/internal-imagery",
        name="project-x",
        bbox=(-77.1, 38.8, -76.9, 39.0),
        date_range=("2024-06-01", "2024-08-31"),
        backend=backend,
    )
    assert sorted(collection.to_table(columns=["id"]).column("id").to_pylist()) == [
        s.id for s in seed.internal
    ]
    record = next(collection.iter_records(["G"]))
    assert record.bands["G"].url.startswith("s3://internal-imagery/")
    scene = next(s for s in seed.internal if s.id == record.record_id)
    assert_same_header(record.bands["G"].header, header_from_file(seed.root / scene.files["B03"]))


def _index_bytes(rows: list[dict]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def test_geoparquet_index_descriptor(seed: SeedWorld, moto_server, s3_env):
    moto_server.create_bucket("my-bucket")
    rows = [
        {
            "fid": s.id,
            "geom": s.footprint.wkb,
            "timestamp": s.datetime,
            "cog_url": f"{seed.nginx_url}/{s.files['image']}",
        }
        for s in seed.field
    ]
    moto_server.upload("my-bucket", "index.parquet", _index_bytes(rows))
    rasteret.register(seed_doc.custom_index())
    coll = rasteret.build("my-org/custom-index", name="custom-index")
    assert sorted(coll.to_table(columns=["id"]).column("id").to_pylist()) == [
        s.id for s in seed.field
    ]
    assert coll.bands == ["R", "G", "B"]
    r = next(coll.iter_records(["B"]))
    assert r.bands["B"].band_index == 2
    assert r.datetime in {s.datetime for s in seed.field}


def test_aef_style_geoparquet_descriptor(seed: SeedWorld, moto_server, nginx_server, s3_env):
    bucket = "us-west-2.opendata.source.coop"
    moto_server.create_bucket(bucket)
    # 64-band int8 embeddings, one multi-band COG per tile and year
    scenes = seed.field[:2]
    rows = []
    for i, s in enumerate(scenes):
        emb = ((np.arange(64 * 128 * 128).reshape(64, 128, 128) + i) % 200 - 100).astype("int8")
        rel = f"tge-labs/aef/v1/annual/2023/{s.id}.tiff"
        data.write_cog(seed.root / "aef" / rel, emb, s.epsg, s.transform, nodata=-128)
        w, so, e, n = s.footprint.bounds
        rows.append(
            {
                "id": s.id,
                "geometry": s.footprint.wkb,
                "datetime": 2023,
                "path": f"s3://{bucket}/{rel}",
                "wgs84_west": w,
                "wgs84_south": so,
                "wgs84_east": e,
                "wgs84_north": n,
            }
        )
    table = pa.Table.from_pylist(rows).rename_columns(
        ["fid", "geom", "year", "path", "wgs84_west", "wgs84_south", "wgs84_east", "wgs84_north"]
    )
    index = _index_bytes(table.to_pylist())
    moto_server.upload(bucket, "tge-labs/aef/v1/annual/aef_index.parquet", index)
    # url_patterns send s3:// reads to an HTTP mirror of the bucket (data.source.coop in the
    # seed, nginx here), so the mirror holds the index too
    (seed.root / "aef/tge-labs/aef/v1/annual/aef_index.parquet").write_bytes(index)
    import rasteret

    descriptor = seed_doc.aef_custom(mirror=f"{nginx_server.url}/rt-seed/aef/")
    rasteret.register(descriptor)

    target = scenes[1]
    coll = rasteret.build(
        "my-org/aef-custom",
        name="aef",
        bbox=target.footprint.centroid.buffer(1e-4).bounds,
        date_range=("2023-01-01", "2023-12-31"),
    )
    assert coll.to_table(columns=["id"]).column("id").to_pylist() == [target.id]
    assert len(coll.bands) == 64 and coll.build_report.files == 1
    record = next(coll.iter_records(["A63", "A00"]))
    ref = record.bands["A63"]
    assert ref.band_index == 63 and ref.nodata == -128
    assert ref.url.startswith(f"{nginx_server.url}/rt-seed/aef/tge-labs/")
    assert record.datetime == dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    local = seed.root / "aef" / f"tge-labs/aef/v1/annual/2023/{target.id}.tiff"
    assert_same_header(ref.header, header_from_file(local))
    assert shapely.from_wkb(record.geometry).equals_exact(target.footprint, 1e-9)
