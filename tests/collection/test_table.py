"""Record tables: GeoParquet indexes with column mapping, and any Arrow producer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import shapely
from tests.collection.truth import assert_same_header, header_from_file

import rasteret
from rasteret.errors import BuildError

AEF_BANDS = {f"A{i:02d}": i for i in range(4)}


def index_table(served, *, relative: bool = False) -> pa.Table:
    """An AEF-style index: fid, geom (WKB), integer year, path of the multi-band COG, bounds."""
    rows = []
    for s in served.scenes:
        fp = s.footprint
        w, so, e, n = fp.bounds
        rows.append(
            {
                "fid": s.id,
                "geom": fp.wkb,
                "year": s.datetime.year,
                "path": s.files["image"] if relative else served.url(s.files["image"]),
                "wgs84_west": w,
                "wgs84_south": so,
                "wgs84_east": e,
                "wgs84_north": n,
                "split": "train" if int(s.id[-1]) % 2 else "val",
            }
        )
    return pa.Table.from_pylist(rows)


AEF_MAPPING = dict(
    column_map={"fid": "id", "geom": "geometry", "year": "datetime"},
    href_column="path",
    band_index_map=AEF_BANDS,
    bbox_columns={
        "minx": "wgs84_west",
        "miny": "wgs84_south",
        "maxx": "wgs84_east",
        "maxy": "wgs84_north",
    },
)


def test_geoparquet_descriptor_build(tmp_path: Path, served):
    index = tmp_path / "aef_index.parquet"
    pq.write_table(index_table(served), index)
    rasteret.register(
        rasteret.DatasetDescriptor(
            id="my-org/aef-like", geoparquet_uri=str(index), separate_files=False, **AEF_MAPPING
        )
    )
    target = served.scenes[1]
    coll = rasteret.build(
        "my-org/aef-like",
        name="aef",
        bbox=target.footprint.centroid.buffer(1e-4).bounds,
        date_range=("2024-01-01", "2024-12-31"),
    )
    ids = coll.to_table(columns=["id"]).column("id").to_pylist()
    assert target.id in ids and len(ids) < len(served.scenes)
    assert coll.bands == list(AEF_BANDS)
    assert coll.build_report.files == len(ids)  # one shared header per file
    record = next(r for r in coll.iter_records(["A03", "A01"]) if r.record_id == target.id)
    assert record.datetime == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert record.bands["A03"].band_index == 3
    assert record.properties["split"] in ("train", "val")
    assert_same_header(
        record.bands["A01"].header, header_from_file(served.path(target.files["image"]))
    )


def test_relative_hrefs_resolve_against_the_index_folder(tmp_path: Path, served):
    index = served.root / "relative_index.parquet"
    pq.write_table(index_table(served, relative=True), index)
    coll = rasteret.build_from_table(str(index), name="rel", **AEF_MAPPING)
    record = next(iter(coll.iter_records(["A00"])))
    assert record.bands["A00"].url.startswith(str(served.root.resolve()))
    assert len(coll) == len(served.scenes)


def test_missing_mapped_columns_are_named(tmp_path: Path, served):
    index = tmp_path / "index.parquet"
    pq.write_table(index_table(served).drop_columns(["geom", "wgs84_east"]), index)
    with pytest.raises(BuildError) as err:
        rasteret.build_from_table(str(index), name="broken", **AEF_MAPPING)
    assert "geom" in str(err.value) and "wgs84_east" in str(err.value)
    with pytest.raises(BuildError, match="cog_url"):
        rasteret.build_from_table(str(index), name="broken", href_column="cog_url")


def _expected_ids(served) -> list[str]:
    return sorted(s.id for s in served.scenes)


def _producers(served):
    table = index_table(served)
    gdf = gpd.GeoDataFrame(
        table.drop_columns(["geom"]).to_pandas(),
        geometry=gpd.GeoSeries.from_wkb(table.column("geom").to_pylist(), crs=4326).to_crs(3857),
    )

    class Stream:
        def __arrow_c_stream__(self, requested_schema=None):
            return table.__arrow_c_stream__(requested_schema)

    con = duckdb.connect()
    con.register("idx", table)
    return {
        "pyarrow": table,
        "duckdb": con.sql("select * from idx"),
        "polars": pl.from_arrow(table),
        "geopandas-3857": gdf,
        "capsule": Stream(),
    }


@pytest.mark.parametrize("kind", ["pyarrow", "duckdb", "polars", "geopandas-3857", "capsule"])
def test_arrow_producers(kind, served):
    source = _producers(served)[kind]
    mapping = dict(AEF_MAPPING)
    if kind == "geopandas-3857":
        mapping["column_map"] = {"fid": "id", "year": "datetime"}
    coll = rasteret.build_from_table(source, **mapping)  # no name: stays in memory
    assert coll.path is None
    assert sorted(coll.to_table(columns=["id"]).column("id").to_pylist()) == _expected_ids(served)
    footprints = coll.to_table(columns=["id", "geometry"])
    by_id = {s.id: s.footprint for s in served.scenes}
    for rid, wkb in zip(
        footprints.column("id").to_pylist(), footprints.column("geometry").to_pylist(), strict=True
    ):
        got = shapely.from_wkb(wkb)
        assert (
            got.equals_exact(by_id[rid], tolerance=1e-6)
            or got.hausdorff_distance(by_id[rid]) < 1e-6
        )


def test_assets_column_with_band_map(served):
    rows = [
        {
            "id": s.id,
            "datetime": s.datetime,
            "assets": {k: {"href": served.url(v)} for k, v in s.files.items()},
        }
        for s in served.scenes
    ]
    coll = rasteret.build_from_table(pa.Table.from_pylist(rows), band_map={"RED": "B04"})
    assert coll.bands == ["RED"]
    # no geometry in the table: footprints come from the parsed headers
    bounds = coll.bounds
    union = shapely.union_all([s.footprint for s in served.scenes]).bounds
    np.testing.assert_allclose(bounds, union, atol=1e-6)
    assert pc.all(pc.is_valid(coll.to_table(columns=["geometry"]).column(0))).as_py()
