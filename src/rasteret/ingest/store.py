"""On-disk format: GeoParquet 1.1, zstd, Hive ``year=/month=`` partitions, written atomically.

A collection is written into a hidden temporary folder next to its destination and renamed
into place only when complete, so an interrupted build or export leaves nothing half-written
(and an older collection at the same path stays intact until the new one is ready).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rasteret.errors import CollectionError
from rasteret.ingest.report import BuildReport
from rasteret.ingest.schema import BBOX, GEOMETRY, PARTITION_COLUMNS, REQUIRED_COLUMNS

ROWS_PER_GROUP = 8192
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
REPORT_FILE = "_build_report.json"
ZSTD_LEVEL = 3


def geo_metadata(geometry_types: Sequence[str], bbox: Sequence[float] | None) -> dict[bytes, bytes]:
    """The GeoParquet 1.1 ``geo`` key: WKB footprints in OGC:CRS84 with a bbox covering."""
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": list(geometry_types),
        "covering": {
            "bbox": {k: [BBOX, k] for k in ("xmin", "ymin", "xmax", "ymax")},
        },
    }
    if bbox is not None:
        column["bbox"] = [float(v) for v in bbox]
    geo = {"version": "1.1.0", "primary_column": GEOMETRY, "columns": {GEOMETRY: column}}
    return {b"geo": json.dumps(geo).encode()}


def temp_sibling(target: Path) -> Path:
    """A hidden, unique path next to ``target`` (same filesystem, so renames are atomic)."""
    return target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def atomic_destination(target: Path) -> Iterator[Path]:
    """Yield a temporary path; on success move it over ``target``, on any failure delete it."""
    target = Path(target).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(target)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if not tmp.exists():
        raise CollectionError(f"nothing was written for {target}")
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
        os.rename(target, old)
        os.rename(tmp, target)
        _remove(old)
    else:
        os.rename(tmp, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def write_collection(
    target: str | os.PathLike[str],
    schema: pa.Schema,
    tables: Iterable[pa.Table],
    *,
    partition_by: Sequence[str] = PARTITION_COLUMNS,
    finish: Callable[[Path], None] | None = None,
) -> Path:
    """Write row chunks (all of ``schema``) as a collection at ``target``, atomically.

    A target ending in ``.parquet`` becomes one file without partitions; otherwise a folder
    Hive-partitioned by ``partition_by`` (partition columns live in folder names only).
    finish: called with the temporary folder once every row is written, before the rename
        (sidecars go there; raising aborts the write).
    """
    target = Path(target).expanduser()
    partition_by = tuple(partition_by)
    missing = [c for c in partition_by if c not in schema.names]
    if missing:
        raise CollectionError(f"cannot partition by {missing}: no such column(s)")
    with atomic_destination(target) as tmp:
        if target.suffix == ".parquet":
            _write_file(tmp, schema, tables)
        else:
            _write_folder(tmp, schema, tables, partition_by)
        if finish is not None:
            finish(tmp)
    return target


def write_report(folder: Path, report: BuildReport) -> None:
    """Store a build report next to the data (ignored by Parquet readers: ``_`` prefix)."""
    if folder.is_dir():
        (folder / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=1))


def read_report(path: str | os.PathLike[str]) -> BuildReport | None:
    """The build report stored with a local collection, if any."""
    file = Path(os.fspath(path)).expanduser() / REPORT_FILE
    try:
        return BuildReport.from_dict(json.loads(file.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _batches(schema: pa.Schema, tables: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
    for table in tables:
        table = table.select(schema.names).cast(schema)
        yield from table.to_batches(max_chunksize=ROWS_PER_GROUP)


def _write_file(path: Path, schema: pa.Schema, tables: Iterable[pa.Table]) -> None:
    with pq.ParquetWriter(
        path, schema, compression="zstd", compression_level=ZSTD_LEVEL, write_statistics=True
    ) as writer:
        for batch in _batches(schema, tables):
            writer.write_batch(batch, row_group_size=ROWS_PER_GROUP)


def _write_folder(
    path: Path, schema: pa.Schema, tables: Iterable[pa.Table], partition_by: tuple[str, ...]
) -> None:
    """Hive-partitioned files, written from this thread (row chunks are produced lazily here,
    so the header pass and CRS handling never run on a writer thread)."""
    path.mkdir(parents=True)
    file_schema = pa.schema(
        [f for f in schema if f.name not in partition_by], metadata=schema.metadata
    )
    writers: dict[tuple[Any, ...], pq.ParquetWriter] = {}
    try:
        for batch in _batches(schema, tables):
            table = pa.Table.from_batches([batch])
            for key, part in _partitions(table, partition_by):
                writer = writers.get(key)
                if writer is None:
                    folder = path.joinpath(
                        *(f"{c}={_hive_value(v)}" for c, v in zip(partition_by, key, strict=True))
                    )
                    folder.mkdir(parents=True, exist_ok=True)
                    writer = writers[key] = pq.ParquetWriter(
                        folder / "part-0.parquet",
                        file_schema,
                        compression="zstd",
                        compression_level=ZSTD_LEVEL,
                        write_statistics=True,
                    )
                writer.write_table(part.select(file_schema.names), row_group_size=ROWS_PER_GROUP)
    finally:
        for writer in writers.values():
            writer.close()


def _partitions(
    table: pa.Table, partition_by: tuple[str, ...]
) -> Iterator[tuple[tuple[Any, ...], pa.Table]]:
    if not partition_by:
        yield (), table
        return
    keys = table.select(list(partition_by)).to_pylist()
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(keys):
        groups.setdefault(tuple(row[c] for c in partition_by), []).append(i)
    for key, rows in groups.items():
        yield key, table.take(pa.array(rows, pa.int64()))


def _hive_value(value: Any) -> str:
    return HIVE_NULL if value is None else str(value)


def open_dataset(path: str | os.PathLike[str], *, filesystem: Any | None = None) -> ds.Dataset:
    """Open a collection folder (Hive partitions discovered) or single Parquet file."""
    text = os.fspath(path)
    fs = filesystem
    if fs is None and "://" in text and not text.startswith("file://"):
        import pyarrow.fs as pafs

        try:
            fs, text = pafs.FileSystem.from_uri(text)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CollectionError(f"cannot open collection {text!r}: {exc}") from None
    elif text.startswith("file://"):
        text = text[len("file://") :]
    if fs is None:
        local = Path(text).expanduser()
        if not local.exists():
            raise CollectionError(
                f"no collection at {local}: pass the folder a build or export wrote, or a "
                "registered dataset id"
            )
        text = str(local)
    try:
        dataset = ds.dataset(
            text, format="parquet", filesystem=fs, partitioning=_partitioning(text, fs)
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise CollectionError(f"cannot read collection at {text}: {exc}") from None
    if not dataset.files:
        raise CollectionError(f"no Parquet files under {text}: not a collection")
    check_schema(dataset.schema, where=text)
    return dataset


def _partitioning(path: str, fs: Any) -> Any:
    """Hive partitioning with year/month typed int32 (so all-null partitions still open)."""
    if fs is not None or not Path(path).is_dir():
        return ds.HivePartitioning.discover(infer_dictionary=False)
    keys: list[str] = []
    level = Path(path)
    while True:
        parts = [p for p in level.iterdir() if p.is_dir() and "=" in p.name]
        if not parts:
            break
        keys.append(parts[0].name.split("=", 1)[0])
        level = parts[0]
    if not keys:
        return ds.HivePartitioning.discover(infer_dictionary=False)
    fields = [(k, pa.int32() if k in PARTITION_COLUMNS else pa.string()) for k in keys]
    return ds.HivePartitioning(pa.schema(fields), null_fallback=HIVE_NULL)


def check_schema(schema: pa.Schema, *, where: str) -> None:
    """Fail with the missing column names when a table is not a collection."""
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names and c != BBOX]
    if missing:
        raise CollectionError(
            f"{where} is not a rasteret collection: missing column(s) {missing} "
            f"(has {schema.names[:20]}); build one with rasteret.build_from_table(...)"
        )
