"""The Parquet writer: rows of every chunk land in their Hive partition in input order, as few
large row groups, with statistics where filters use them; builds read a 32 KiB header prefix."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from tests.collection import data
from tests.collection.truth import assert_same_header, header_from_file

from rasteret.ingest import headers, store
from rasteret.io.backend import default_backend

BLOB = pa.struct([("width", pa.int32()), ("offsets", pa.large_binary())])
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("datetime", pa.timestamp("us", tz="UTC")),
        ("collection", pa.string()),
        ("cloud", pa.float64()),
        ("bbox", pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])),
        ("B1_metadata", pa.struct([("band_index", pa.int32()), ("images", pa.list_(BLOB))])),
        ("year", pa.int32()),
        ("month", pa.int32()),
    ]
)


def rows(start: int, n: int) -> list[dict]:
    out = []
    for i in range(start, start + n):
        when = (
            None if i % 11 == 5 else dt.datetime(2023 + i % 2, 1 + (i * 7) % 12, 3, tzinfo=dt.UTC)
        )
        out.append(
            {
                "id": f"r{i:04d}",
                "datetime": when,
                "collection": "c",
                "cloud": float(i % 100),
                "bbox": {"xmin": i, "ymin": -i, "xmax": i + 1.0, "ymax": -i + 1.0},
                "B1_metadata": {
                    "band_index": 0,
                    "images": [{"width": i, "offsets": np.arange(i, i + 4, dtype="<u8").tobytes()}],
                },
                "year": None if when is None else when.year,
                "month": None if when is None else when.month,
            }
        )
    return out


def chunks(sizes: list[int]) -> list[pa.Table]:
    out, start = [], 0
    for n in sizes:
        out.append(pa.Table.from_pylist(rows(start, n), schema=SCHEMA))
        start += n
    return out


def read_partitions(root: Path) -> dict[tuple[str, str], list[dict]]:
    found = {}
    for f in sorted(root.rglob("*.parquet")):
        key = (f.parent.parent.name, f.parent.name)
        found[key] = pq.read_table(f).to_pylist()
    return found


def expected_partitions(all_rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    want: dict[tuple[str, str], list[dict]] = {}
    for r in all_rows:
        y = store.HIVE_NULL if r["year"] is None else str(r["year"])
        m = store.HIVE_NULL if r["month"] is None else str(r["month"])
        plain = {k: v for k, v in r.items() if k not in ("year", "month")}
        want.setdefault((f"year={y}", f"month={m}"), []).append(plain)
    return want


def test_chunks_land_in_their_partitions_in_order(tmp_path: Path):
    tables = chunks([7, 1, 30, 12])
    root = store.write_collection(tmp_path / "c", SCHEMA, iter(tables))
    got = read_partitions(root)
    assert got == expected_partitions(rows(0, 50))
    for f in root.rglob("*.parquet"):
        assert pq.ParquetFile(f).metadata.num_row_groups == 1  # chunks merged per partition
    again = ds.dataset(root, partitioning="hive").to_table()
    assert sorted(again.column("id").to_pylist()) == [f"r{i:04d}" for i in range(50)]


def test_buffered_rows_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(store, "ROWS_PER_GROUP", 4)
    root = store.write_collection(tmp_path / "c", SCHEMA, iter(chunks([9, 3, 17])))
    assert read_partitions(root) == expected_partitions(rows(0, 29))
    for f in root.rglob("*.parquet"):
        meta = pq.ParquetFile(f).metadata
        assert all(meta.row_group(i).num_rows <= 4 for i in range(meta.num_row_groups))


def test_single_file_merges_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(store, "ROWS_PER_GROUP", 10)
    flat = SCHEMA.remove(SCHEMA.get_field_index("year"))
    flat = flat.remove(flat.get_field_index("month"))
    tables = [t.select(flat.names) for t in chunks([3, 3, 3, 3, 3])]
    path = store.write_collection(tmp_path / "one.parquet", flat, iter(tables), partition_by=())
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 5]
    assert pq.read_table(path).to_pylist() == pa.concat_tables(tables).to_pylist()


def test_small_files_snappy_larger_files_zstd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(store, "ROWS_PER_GROUP", 8)
    monkeypatch.setattr(store, "SMALL_FILE_ROWS", 5)
    # one partition of 4 rows, one of 6, and a single file whose first row group has 8 rows
    table = pa.Table.from_pylist(rows(0, 10), schema=SCHEMA)
    for name, values in (("year", [2024] * 10), ("month", [1] * 4 + [2] * 6)):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pa.array(values, pa.int32()))
    root = store.write_collection(tmp_path / "c", SCHEMA, iter([table]))
    codecs = {}
    for f in root.rglob("*.parquet"):
        meta = pq.ParquetFile(f).metadata
        group = meta.row_group(0)
        codecs[meta.num_rows] = {group.column(i).compression for i in range(group.num_columns)}
    assert codecs == {4: {"SNAPPY"}, 6: {"ZSTD"}}
    flat = table.drop_columns(["year", "month"])
    one = store.write_collection(
        tmp_path / "one.parquet", flat.schema, iter([flat]), partition_by=()
    )
    meta = pq.ParquetFile(one).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [8, 2]
    assert {meta.row_group(1).column(i).compression for i in range(6)} == {"ZSTD"}
    assert pq.read_table(one).to_pylist() == flat.to_pylist()
    empty = store.write_collection(
        tmp_path / "empty.parquet", flat.schema, iter([]), partition_by=()
    )
    assert pq.read_table(empty).schema == flat.schema and pq.read_table(empty).num_rows == 0


def test_statistics_and_dictionaries_where_filters_use_them(tmp_path: Path):
    root = store.write_collection(tmp_path / "c", SCHEMA, iter(chunks([40])))
    meta = pq.ParquetFile(next(root.rglob("*.parquet"))).metadata
    group = meta.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    with_stats = {p for p, c in columns.items() if c.is_stats_set}
    assert with_stats == {
        "id",
        "datetime",
        "collection",
        "cloud",
        "bbox.xmin",
        "bbox.ymin",
        "bbox.xmax",
        "bbox.ymax",
    }
    dictionary = {p for p, c in columns.items() if any("DICT" in e for e in c.encodings)}
    assert dictionary == {"id", "collection"}
    # row-group pruning on the bbox covering still works
    scanned = ds.dataset(root, partitioning="hive").to_table(filter=ds.field("bbox", "xmin") > 35)
    assert sorted(scanned.column("id").to_pylist()) == [f"r{i:04d}" for i in range(36, 40)]


def test_builds_read_a_32_kib_header_prefix(tmp_path: Path):
    path = tmp_path / "cog.tif"
    arr = np.arange(512 * 512, dtype="uint16").reshape(1, 512, 512)
    data.write_cog(path, arr, 32633, data.from_origin(500000, 5000000, 10, 10), 0)
    asked: list[int] = []

    class Spy:
        def __init__(self) -> None:
            self.inner = default_backend()

        async def get_prefix(self, url: str, n: int):  # noqa: ANN202 - Backend's signature
            asked.append(n)
            return await self.inner.get_prefix(url, n)

        def __getattr__(self, name: str):  # noqa: ANN204 - everything else as the backend
            return getattr(self.inner, name)

    header = asyncio.run(headers.read_tiff_header(str(path), Spy()))
    assert asked == [32 * 1024]
    assert header.header_requests == 1
    assert_same_header(header, header_from_file(path))
