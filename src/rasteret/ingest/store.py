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
    path.mkdir(parents=True)
    fmt = ds.ParquetFileFormat()
    options = fmt.make_write_options(compression="zstd", compression_level=ZSTD_LEVEL)
    partitioning = (
        ds.partitioning(pa.schema([schema.field(c) for c in partition_by]), flavor="hive")
        if partition_by
        else None
    )
    ds.write_dataset(
        _batches(schema, tables),
        base_dir=str(path),
        schema=schema,
        format=fmt,
        file_options=options,
        partitioning=partitioning,
        basename_template="part-{i}.parquet",
        max_rows_per_group=ROWS_PER_GROUP,
        existing_data_behavior="overwrite_or_ignore",
    )


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
            text,
            format="parquet",
            filesystem=fs,
            partitioning=ds.HivePartitioning.discover(infer_dictionary=False),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise CollectionError(f"cannot read collection at {text}: {exc}") from None
    if not dataset.files:
        raise CollectionError(f"no Parquet files under {text}: not a collection")
    check_schema(dataset.schema, where=text)
    return dataset


def check_schema(schema: pa.Schema, *, where: str) -> None:
    """Fail with the missing column names when a table is not a collection."""
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names and c != BBOX]
    if missing:
        raise CollectionError(
            f"{where} is not a rasteret collection: missing column(s) {missing} "
            f"(has {schema.names[:20]}); build one with rasteret.build_from_table(...)"
        )
