"""On-disk format: GeoParquet 1.1, Hive ``year=/month=`` partitions, written atomically.

Files are compressed with zstd (level 3, like the reference), except files of fewer than
:data:`SMALL_FILE_ROWS` rows, which use Snappy: a collection has hundreds of leaf columns (every
band's tile tables), and zstd's fixed cost per column chunk is then most of the time taken to
write the file and to read it back, for the same size.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rasteret.errors import CollectionError
from rasteret.ingest.report import BuildReport
from rasteret.ingest.schema import BBOX, GEOMETRY, PARTITION_COLUMNS, REQUIRED_COLUMNS

ROWS_PER_GROUP = 8192
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
REPORT_FILE = "_build_report.json"
ZSTD_LEVEL = 3
SMALL_FILE_ROWS = 16


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


def _tables(schema: pa.Schema, tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
    for table in tables:
        yield table.select(schema.names).cast(schema)


def write_options(schema: pa.Schema, rows: int = SMALL_FILE_ROWS) -> dict[str, Any]:
    """ParquetWriter settings for a file of about ``rows`` rows: zstd (Snappy under
    :data:`SMALL_FILE_ROWS`); statistics only where filters use them (plain columns and the
    bbox covering) and dictionaries only for plain string columns. A collection has hundreds
    of leaf columns (every band's tile tables); statistics and dictionary pages on those cost
    time and bytes and never prune anything."""
    stats: list[str] = []
    strings: list[str] = []
    for f in schema:
        if f.name == BBOX and pa.types.is_struct(f.type):
            stats += [f"{BBOX}.{f.type.field(i).name}" for i in range(f.type.num_fields)]
        elif not pa.types.is_nested(f.type):
            stats.append(f.name)
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
                strings.append(f.name)
    small = rows < SMALL_FILE_ROWS
    return {
        "compression": "snappy" if small else "zstd",
        "compression_level": None if small else ZSTD_LEVEL,
        "write_statistics": stats,
        "use_dictionary": strings,
    }


def _write_file(path: Path, schema: pa.Schema, tables: Iterable[pa.Table]) -> None:
    """One file; opened at its first row group, when its size is known (see the codecs)."""
    writer: pq.ParquetWriter | None = None

    def write(rows: pa.Table) -> None:
        nonlocal writer
        if writer is None:
            writer = pq.ParquetWriter(path, schema, **write_options(schema, rows.num_rows))
        writer.write_table(rows, row_group_size=ROWS_PER_GROUP)

    try:
        buffer = _Buffer()
        for table in _tables(schema, tables):
            buffer.add(table)
            if buffer.rows >= ROWS_PER_GROUP:  # write full row groups, keep the rest
                rows = buffer.take()
                full = rows.num_rows - rows.num_rows % ROWS_PER_GROUP
                write(rows.slice(0, full))
                if full < rows.num_rows:
                    buffer.add(rows.slice(full))
        if buffer.rows:
            write(buffer.take())
        elif writer is None:  # no rows at all: a file with the schema only
            writer = pq.ParquetWriter(path, schema, **write_options(schema, 0))
    finally:
        if writer is not None:
            writer.close()


def _write_folder(
    path: Path, schema: pa.Schema, tables: Iterable[pa.Table], partition_by: tuple[str, ...]
) -> None:
    """Hive-partitioned files. Row chunks are produced lazily in this thread (so the header
    pass and CRS handling never run on a writer thread); rows are buffered per partition and
    written as few, large row groups (each Parquet column chunk has a fixed cost), and the
    last writes of all partitions run in parallel."""
    path.mkdir(parents=True)
    file_schema = pa.schema(
        [f for f in schema if f.name not in partition_by], metadata=schema.metadata
    )
    parts = _Partitions(path, file_schema, partition_by)
    try:
        for table in _tables(schema, tables):
            parts.add(table)
        parts.flush_all()
    finally:
        parts.close()


@dataclass
class _Buffer:
    """Row chunks waiting to be written together."""

    tables: list[pa.Table] = field(default_factory=list)
    rows: int = 0

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)
        self.rows += table.num_rows

    def take(self) -> pa.Table:
        table = pa.concat_tables(self.tables)
        self.tables, self.rows = [], 0
        return table


class _Partitions:
    """One Parquet writer per Hive partition, fed from per-partition buffers. At most
    ``ROWS_PER_GROUP`` rows wait in all buffers together (the fullest is written first)."""

    def __init__(self, root: Path, schema: pa.Schema, partition_by: tuple[str, ...]) -> None:
        self.root = root
        self.schema = schema
        self.partition_by = partition_by
        self.buffers: dict[tuple[Any, ...], _Buffer] = {}
        self.writers: dict[tuple[Any, ...], pq.ParquetWriter] = {}

    def add(self, table: pa.Table) -> None:
        for key, part in _partitions(table, self.partition_by):
            self.buffers.setdefault(key, _Buffer()).add(part.select(self.schema.names))
        while sum(b.rows for b in self.buffers.values()) > ROWS_PER_GROUP:
            key = max(self.buffers, key=lambda k: self.buffers[k].rows)
            self._write(key, self.buffers.pop(key).take())

    def flush_all(self) -> None:
        """Write every buffered row and close every file, one partition per thread (Parquet
        encoding, zstd and footers run without the GIL)."""
        jobs = [(key, buf.take()) for key, buf in self.buffers.items() if buf.rows]
        jobs += [(key, None) for key in self.writers if key not in self.buffers]
        self.buffers.clear()
        workers = min(len(jobs), os.cpu_count() or 1, 4)
        if workers <= 1:
            for job in jobs:
                self._finish(*job)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="rasteret-write") as pool:
            list(pool.map(lambda job: self._finish(*job), jobs))

    def close(self) -> None:
        """Close the files still open (after a failure)."""
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def _finish(self, key: tuple[Any, ...], table: pa.Table | None) -> None:
        if table is not None:
            self._write(key, table)
        self.writers.pop(key).close()

    def _write(self, key: tuple[Any, ...], table: pa.Table) -> None:
        self._writer(key, table.num_rows).write_table(table, row_group_size=ROWS_PER_GROUP)

    def _writer(self, key: tuple[Any, ...], rows: int) -> pq.ParquetWriter:
        """The partition's writer, opened at its first row group (``rows`` picks the codec)."""
        writer = self.writers.get(key)
        if writer is None:
            folder = self.root.joinpath(
                *(f"{c}={_hive_value(v)}" for c, v in zip(self.partition_by, key, strict=True))
            )
            folder.mkdir(parents=True, exist_ok=True)
            options = write_options(self.schema, rows)
            writer = pq.ParquetWriter(folder / "part-0.parquet", self.schema, **options)
            self.writers[key] = writer
        return writer


def _partitions(
    table: pa.Table, partition_by: tuple[str, ...]
) -> Iterator[tuple[tuple[Any, ...], pa.Table]]:
    """``(key, rows)`` per distinct partition key, rows in input order (one sort, then
    zero-copy slices)."""
    if not partition_by:
        yield (), table
        return
    order = pc.sort_indices(
        table.select(list(partition_by)),
        sort_keys=[(c, "ascending", "at_end") for c in partition_by],
    )
    table = table.take(order)
    keys = list(zip(*(table.column(c).to_pylist() for c in partition_by), strict=True))
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            yield keys[start], table.slice(start, i - start)
            start = i


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
