"""On-disk format (GeoParquet 1.1, Hive partitions, zstd or Snappy by file size, metadata),
export/load, the reference implementation's format, interrupted builds and the workspace
listing."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import shapely
from tests.collection.conftest import COLLECTION
from tests.collection.truth import assert_same_header, header_from_file

import rasteret
import rasteret.ingest.headers as headers_mod
from rasteret.errors import CollectionError
from rasteret.ingest import store

BAND_MAP = {"B04": "red", "B08": "nir"}
EVERYWHERE = dict(bbox=(11.5, 44.5, 12.5, 45.5), date_range=("2024-01-01", "2024-12-31"))


def _build(stac_api, name="persist", **kw):
    return rasteret.build_from_stac(
        name=name,
        stac_api=stac_api,
        collection=COLLECTION,
        **{"band_map": BAND_MAP, **EVERYWHERE, **kw},
    )


def test_geoparquet_layout(stac_api, served, workspace: Path):
    coll = _build(stac_api)
    root = workspace / "persist_stac"
    assert Path(coll.path) == root
    files = sorted(root.rglob("*.parquet"))
    months = {s.datetime.month for s in served.scenes}
    assert {f.parent.name for f in files} == {f"month={m}" for m in months}
    assert {f.parent.parent.name for f in files} == {"year=2024"}
    meta = pq.ParquetFile(files[0]).metadata
    # few rows per partition: Snappy (zstd's fixed cost per column chunk would dominate)
    assert meta.num_rows < store.SMALL_FILE_ROWS
    assert meta.row_group(0).column(0).compression == "SNAPPY"
    kv = meta.metadata
    geo = json.loads(kv[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB" and col["geometry_types"] == ["Polygon"]
    assert "crs" not in col  # OGC:CRS84 by default
    assert col["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert kv[b"name"] == b"persist" and kv[b"data_source"] == COLLECTION.encode()
    start, end = kv[b"date_range"].decode().split(",")
    assert dt.datetime.fromisoformat(start) == min(s.datetime for s in served.scenes)
    assert dt.datetime.fromisoformat(end) == max(s.datetime for s in served.scenes)
    assert json.loads(kv[b"rasteret"])["schema_version"] == "2"
    # third-party readers take the folder as it is
    gdf = gpd.read_parquet(root)
    assert gdf.crs.to_string() == "OGC:CRS84" and len(gdf) == len(served.scenes)
    by_id = {s.id: s.footprint for s in served.scenes}
    assert all(g.equals_exact(by_id[i], 1e-9) for i, g in zip(gdf["id"], gdf.geometry, strict=True))
    rows = duckdb.sql(
        f"select id, year, month, \"eo:cloud_cover\" from read_parquet('{root}/**/*.parquet', "
        "hive_partitioning=true) order by id"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == sorted(
        (s.id, 2024, s.datetime.month) for s in served.scenes
    )
    assert not [p for p in workspace.iterdir() if p.name.startswith(".")], "no temp folders left"


def test_export_and_reload(stac_api, served, tmp_path: Path):
    coll = _build(stac_api, name="exp")
    view = coll.subset(cloud_cover_lt=100).subset(date_range=("2024-01-01", "2024-03-31"))
    folder = view.export(tmp_path / "exported")
    again = rasteret.load(folder)
    assert len(again) == len(view) and again.bands == coll.bands and again.name == "exp"
    single = rasteret.load(view.export(tmp_path / "one.parquet"))
    assert len(single) == len(view)
    want = {r.record_id: r for r in view.iter_records(["B04", "B08"])}
    for c in (again, single):
        for r in c.iter_records(["B04", "B08"]):
            w = want[r.record_id]
            assert r.datetime == w.datetime and r.geometry == w.geometry
            for b in ("B04", "B08"):
                assert r.bands[b].url == w.bands[b].url
                assert_same_header(r.bands[b].header, w.bands[b].header)
    start, end = again.start_date, again.end_date
    assert start == min(s.datetime for s in served.scenes if s.datetime.month <= 3)
    assert end <= dt.datetime(2024, 3, 31, 23, 59, 59, tzinfo=dt.UTC)


def test_load_errors(tmp_path: Path):
    with pytest.raises(CollectionError, match="no collection"):
        rasteret.load(tmp_path / "missing")
    with pytest.raises(CollectionError, match="registered dataset"):
        rasteret.load("nobody/nothing")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    with pytest.raises(CollectionError, match="missing column"):
        rasteret.load(tmp_path / "plain.parquet")


def test_list_collections(stac_api, workspace: Path):
    _build(stac_api, name="one")
    _build(stac_api, name="two", band_map={"R": "red"})
    found = {c["name"]: c for c in rasteret.Collection.list_collections()}
    assert set(found) == {"one", "two"}
    assert found["two"]["bands"] == ["R"] and found["one"]["kind"] == "stac"
    assert found["one"]["size"] > 0 and found["one"]["data_source"] == COLLECTION
    assert rasteret.Collection.list_collections(workspace / "nowhere") == []


def test_interrupted_build_leaves_nothing(stac_api, workspace: Path, monkeypatch):
    old = _build(stac_api, name="interrupt")
    old_key, old_len = old.info.build_key, len(old)
    real = headers_mod.read_tiff_header
    calls = {"n": 0}

    async def interrupting(url, backend):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered to the main thread
            time.sleep(0.5)
        return await real(url, backend)

    monkeypatch.setattr(headers_mod, "read_tiff_header", interrupting)
    with pytest.raises(KeyboardInterrupt):
        _build(stac_api, name="interrupt", band_map={"B": "blue"}, max_concurrent=1)
    monkeypatch.setattr(headers_mod, "read_tiff_header", real)
    assert sorted(p.name for p in workspace.iterdir()) == ["interrupt_stac"]
    kept = rasteret.load(workspace / "interrupt_stac")
    assert kept.info.build_key == old_key and len(kept) == old_len and kept.bands == ["B04", "B08"]
    # the I/O loop survived the interrupt
    assert _build(stac_api, name="after", band_map={"B": "blue"}).bands == ["B"]


# --- the reference implementation's format ---------------------------------------------------

LEGACY_BAND = pa.struct(
    [
        ("image_width", pa.int32()),
        ("image_height", pa.int32()),
        ("tile_width", pa.int32()),
        ("tile_height", pa.int32()),
        ("dtype", pa.string()),
        ("transform", pa.list_(pa.float64())),
        ("predictor", pa.int32()),
        ("compression", pa.int32()),
        ("tile_offsets", pa.list_(pa.int64())),
        ("tile_byte_counts", pa.list_(pa.int64())),
        ("pixel_scale", pa.list_(pa.float64())),
        ("tiepoint", pa.list_(pa.float64())),
        ("nodata", pa.float64()),
        ("samples_per_pixel", pa.int32()),
        ("planar_configuration", pa.int32()),
        ("photometric", pa.int32()),
        ("extra_samples", pa.list_(pa.int32())),
    ]
)


def _legacy_collection(root: Path, served) -> Path:
    """A collection in the exact schema rasteret 0.4.x writes (section 3 of the reference)."""
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("datetime", pa.timestamp("us")),
            ("geometry", pa.binary()),
            (
                "assets",
                pa.struct(
                    [("B04", pa.struct([("href", pa.string()), ("band_index", pa.int64())]))]
                ),
            ),
            ("proj:epsg", pa.int32()),
            ("crs", pa.string()),
            ("B04_metadata", LEGACY_BAND),
            ("bbox", pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])),
            ("year", pa.int32()),
            ("month", pa.int32()),
        ]
    )
    rows = []
    for s in served.scenes:
        truth = header_from_file(served.path(s.files["B04"]))
        full, t = truth.images[0], truth.transform
        fp = s.footprint
        rows.append(
            {
                "id": s.id,
                "datetime": s.datetime.replace(tzinfo=None),
                "geometry": fp.wkb,
                "assets": {"B04": {"href": served.url(s.files["B04"]), "band_index": 0}},
                "proj:epsg": s.epsg,
                "crs": f"EPSG:{s.epsg}",
                "B04_metadata": {
                    "image_width": full.width,
                    "image_height": full.height,
                    "tile_width": full.block_width,
                    "tile_height": full.block_height,
                    "dtype": full.dtype,
                    "transform": [t.a, t.c, t.e, t.f],
                    "predictor": full.predictor,
                    "compression": full.compression,
                    "tile_offsets": full.offsets.tolist(),
                    "tile_byte_counts": full.byte_counts.tolist(),
                    "pixel_scale": [t.a, -t.e, 0.0],
                    "tiepoint": [0.0, 0.0, 0.0, t.c, t.f, 0.0],
                    "nodata": truth.nodata,
                    "samples_per_pixel": 1,
                    "planar_configuration": 1,
                    "photometric": 1,
                    "extra_samples": None,
                },
                "bbox": dict(zip(("xmin", "ymin", "xmax", "ymax"), fp.bounds, strict=True)),
                "year": s.datetime.year,
                "month": s.datetime.month,
            }
        )
    table = pa.Table.from_pylist(rows, schema=schema).replace_schema_metadata(
        {
            "name": "legacy",
            "description": "",
            "data_source": "",
            "created": "2026-01-01T00:00:00",
            "date_range": "",
            "rasteret_collection_version": "1",
        }
    )
    out = root / "legacy_records"
    ds.write_dataset(
        table,
        out,
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([("year", pa.int32()), ("month", pa.int32())]), flavor="hive"
        ),
    )
    return out


def test_reference_collections_load(tmp_path: Path, served):
    path = _legacy_collection(tmp_path, served)
    coll = rasteret.load(path)
    assert coll.name == "legacy" and coll.bands == ["B04"]
    assert len(coll) == len(served.scenes)
    assert coll.describe()["schema_version"].startswith("1")
    assert (
        len(coll.subset(date_range=("2024-01-01", served.scenes[0].datetime.date().isoformat())))
        == 1
    )
    by_id = {s.id: s for s in served.scenes}
    for r in coll.iter_records(["B04"]):
        s = by_id[r.record_id]
        ref = r.bands["B04"]
        truth = header_from_file(served.path(s.files["B04"]))
        got = ref.header
        assert ref.url == served.url(s.files["B04"]) and ref.nodata == 0
        assert got.crs == truth.crs and tuple(got.transform) == tuple(truth.transform)
        assert len(got.images) == 1  # the reference stored full resolution only
        np.testing.assert_array_equal(got.images[0].offsets, truth.images[0].offsets)
        np.testing.assert_array_equal(got.images[0].byte_counts, truth.images[0].byte_counts)
        assert (got.width, got.height, got.images[0].block_width) == (
            truth.width,
            truth.height,
            truth.images[0].block_width,
        )
        assert got.images[0].compression == truth.images[0].compression
        assert r.datetime == s.datetime
        assert shapely.from_wkb(r.geometry).equals(s.footprint)
    exported = rasteret.load(coll.export(tmp_path / "legacy-export"))
    assert len(exported) == len(coll) and exported.bands == ["B04"]


def test_collections_load_and_register_from_s3(stac_api, moto_server, s3_env, tmp_path: Path):
    coll = _build(stac_api, name="to-s3")
    moto_server.create_bucket("rt-collections")
    for f in Path(coll.path).rglob("*"):
        if f.is_file():
            moto_server.upload("rt-collections", f"to-s3/{f.relative_to(coll.path)}", f)
    remote = rasteret.load("s3://rt-collections/to-s3")
    assert len(remote) == len(coll) and remote.bands == coll.bands
    assert remote.build_report is None or remote.build_report.ok
    descriptor = rasteret.register_local("local/remote", "s3://rt-collections/to-s3")
    assert descriptor.collection_uri == "s3://rt-collections/to-s3"
    assert len(rasteret.load("local/remote")) == len(coll)
