"""The one step every build ends in: header pass, normalisation to the collection schema, write.

Build paths (STAC, static catalogs, record tables) only produce a :class:`BuildPlan`: a table of
records (id, datetime, footprint, properties) plus, per band, the href of its file in each row.
This module parses the headers (chunk by chunk, so memory stays bounded), attaches the band
structs, fills footprints and CRS columns from headers where the source had none, and writes
the collection atomically.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.errors import BuildError
from rasteret.ingest import assemble, normalize, schema
from rasteret.ingest.headers import (
    HEADER_CONCURRENCY,
    HeaderPass,
    HeaderReader,
    read_headers,
    show_progress,
)
from rasteret.ingest.metadata import CollectionInfo, now_iso
from rasteret.ingest.plan import BuildPlan
from rasteret.ingest.report import BuildReport
from rasteret.ingest.store import geo_metadata, write_collection, write_report
from rasteret.io.backend import Backend
from rasteret.io.loop import run_sync
from rasteret.tiff.model import TiffHeader

CHUNK_ROWS = 2048


class BuildWarning(UserWarning):
    """Some assets could not be indexed; the collection lists them in ``build_report``."""


@dataclass
class HeaderOptions:
    """How the header pass runs."""

    backend: Backend
    max_concurrent: int = HEADER_CONCURRENCY
    progress: bool | None = None
    strict: bool = False
    header_cache: MutableMapping[str, TiffHeader] | None = None
    reader: HeaderReader | None = None
    chunk_rows: int = CHUNK_ROWS


class _Build:
    """State of one build: normalised records, output schema, report, chunked header pass."""

    def __init__(self, plan: BuildPlan, options: HeaderOptions) -> None:
        self.plan = plan
        self.options = options
        self.records = records = assemble.prepare_records(plan.records)
        self.n = n = records.num_rows
        if n == 0:
            raise BuildError("no records to build a collection from")
        self.owners = [b for b in plan.bands if b.header_of is None]
        self.all_urls = {u for b in self.owners for u in b.hrefs if u}
        self.cache: MutableMapping[str, TiffHeader] = (
            options.header_cache if options.header_cache is not None else {}
        )
        self.started = time.perf_counter()
        self.report = BuildReport(
            records=n, bands=[b.code for b in plan.bands], files=len(self.all_urls)
        )
        times = records.column(schema.DATETIME)
        info = plan.info
        self.info = info.with_(
            start_date=pc.min(times).as_py() if info.start_date is None else info.start_date,
            end_date=pc.max(times).as_py() if info.end_date is None else info.end_date,
            created=now_iso(),
            header_of={b.code: b.header_of for b in plan.bands if b.header_of},
        )
        geom = records.column(schema.GEOMETRY).combine_chunks()
        geo_types = set(normalize.geometry_types(geom)) | (
            {"Polygon"} if geom.null_count else set()
        )
        bbox = records.column(schema.BBOX)
        overall = assemble.overall_bbox(bbox) if not bbox.null_count else None
        meta = {**self.info.to_metadata(), **geo_metadata(sorted(geo_types), overall)}
        self.schema = assemble.output_schema(records, plan.bands).with_metadata(meta)

    def chunks(self, bar: Any) -> Iterator[pa.Table]:
        """Assembled chunks of rows, each after the header pass of its files."""
        options = self.options
        for start in range(0, self.n, options.chunk_rows):
            stop = min(self.n, start + options.chunk_rows)
            urls = [u for b in self.owners for u in b.hrefs[start:stop] if u]
            hp = run_sync(
                read_headers(
                    urls,
                    backend=options.backend,
                    max_concurrent=options.max_concurrent,
                    cache=self.cache,
                    reader=options.reader,
                    progress_bar=bar,
                )
            )
            _count(self.report, hp)
            chunk = self.records.slice(start, stop - start)
            table, failures = assemble.assemble_chunk(chunk, self.plan.bands, hp, start)
            self.report.failures.extend(failures)
            if failures and options.strict:
                raise BuildError(
                    f"{len(failures)} asset(s) could not be indexed (strict=True):\n  "
                    + "\n  ".join(str(f) for f in failures[:10])
                )
            yield table

    def finish(self) -> None:
        """Fail when nothing at all could be indexed; stamp the duration."""
        if self.report.parsed + self.report.cached == 0:
            raise BuildError(
                "no asset could be indexed; first failures:\n  "
                + "\n  ".join(self.report.failure_lines())
            )
        self.report.seconds = time.perf_counter() - self.started

    @contextlib.contextmanager
    def progress(self) -> Iterator[Any]:
        bar = _progress_bar(len(self.all_urls), self.options.progress)
        try:
            yield bar
        finally:
            if bar is not None:
                bar.close()

    def done(self) -> CollectionInfo:
        if self.report.failures:
            warnings.warn(
                f"{len(self.report.failures)} asset(s) could not be indexed and are null in the "
                "collection:\n  " + "\n  ".join(self.report.failure_lines()),
                BuildWarning,
                stacklevel=4,
            )
        return self.info.with_(report=self.report)


def run_build(plan: BuildPlan, target: Path, options: HeaderOptions) -> CollectionInfo:
    """Parse headers, normalise and write ``plan`` to ``target``; return the written info.

    Chunks of rows stream through the header pass into the writer, so memory holds one chunk
    of tile tables at a time. The build report goes to a sidecar (``_build_report.json``)
    written last, before the folder is renamed into place.
    """
    build = _Build(plan, options)

    def finish(folder: Path) -> None:
        build.finish()
        write_report(folder, build.report)

    with build.progress() as bar:
        write_collection(target, build.schema, build.chunks(bar), finish=finish)
    return build.done()


def build_table(plan: BuildPlan, options: HeaderOptions) -> tuple[CollectionInfo, pa.Table]:
    """Like :func:`run_build` but keep the collection in memory (nothing written)."""
    build = _Build(plan, options)
    with build.progress() as bar:
        tables = [t.select(build.schema.names).cast(build.schema) for t in build.chunks(bar)]
    build.finish()
    info = build.done()
    table = pa.concat_tables(tables).replace_schema_metadata(
        {**(build.schema.metadata or {}), **info.to_metadata()}
    )
    return info, table


def _count(report: BuildReport, hp: HeaderPass) -> None:
    report.parsed += hp.parsed
    report.cached += hp.cached
    report.header_requests += hp.requests


def _progress_bar(total: int, progress: bool | None) -> Any:
    if not show_progress(progress) or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Indexing headers", unit="file", leave=False)
