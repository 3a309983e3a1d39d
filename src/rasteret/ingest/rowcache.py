"""The rows of a collection held in memory for reads, shared by every view of one dataset.

A read call used to re-scan the (partitioned) Parquet dataset and rebuild every header before the
first byte was fetched. Collections are immutable, so the scan can be done once: a
:class:`RowCache` keeps the small non-header columns (ids, dates, footprints, assets,
properties) as one in-memory table with a row number, each band's header column once asked for,
and the headers rebuilt from it per (band, row). A view filters the in-memory table (a bbox filter
prunes rows before any header is rebuilt) and looks its headers up by row number.

Memory stays bounded: datasets over :data:`MAX_ROWS` rows are not cached (their views scan the
Parquet files, with row-group pruning, as before), the cached columns stop at :data:`MAX_BYTES`
and the rebuilt headers at :data:`MAX_HEADERS`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.ingest import schema as S

ROW = "\x00row"
MAX_ROWS = 200_000
MAX_BYTES = 512 * 1024 * 1024
MAX_HEADERS = 100_000


@dataclass(frozen=True)
class Selection:
    """What :meth:`RowCache.select` returns: the view's rows (with :data:`ROW`, the row number
    in the cache) and the requested header columns over all cached rows."""

    table: pa.Table
    headers: Mapping[str, pa.Array]


class RowCache:
    """In-memory read columns of one dataset (the unfiltered root of a collection's views)."""

    def __init__(self, dataset: ds.Dataset) -> None:
        self._dataset = dataset
        self._lock = threading.Lock()
        self._disabled = False
        self._base: ds.Dataset | None = None
        self._ids: pa.Array | None = None
        self._columns: dict[str, pa.Array] = {}
        self._bytes = 0
        self._decoded: dict[tuple[str, int], Any] = {}

    @property
    def dataset(self) -> ds.Dataset:
        """The dataset whose rows this caches (the unfiltered root of the views)."""
        return self._dataset

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled empty (for worker processes): the copy loads again on first use."""
        return (RowCache, (self._dataset,))

    def select(
        self,
        columns: Mapping[str, ds.Expression],
        filter: ds.Expression | None,
        header_columns: Sequence[str],
    ) -> Selection | None:
        """The rows passing ``filter`` with ``columns`` (non-header columns, as projections) and
        :data:`ROW`, plus ``header_columns`` over all rows; None when the cache cannot serve them
        (too large, or the filter needs a column it does not hold): scan the dataset instead."""
        with self._lock:
            if not self._load(header_columns):
                return None
            assert self._base is not None
            base = self._base
            headers = {c: self._columns[c] for c in header_columns}
        try:
            table = base.to_table(columns={**columns, ROW: ds.field(ROW)}, filter=filter)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None
        return Selection(table, headers)

    def decoded(
        self, key: str, rows: np.ndarray, decode: Callable[[np.ndarray], list[Any]]
    ) -> list[Any]:
        """One value per row of ``rows``, remembered under ``(key, row)``: only rows not seen
        before are decoded (``decode`` gets their positions in ``rows``, returns one value each)."""
        found = [self._decoded.get((key, int(r)), _MISSING) for r in rows]
        todo = [i for i, v in enumerate(found) if v is _MISSING]
        if todo:
            values = decode(np.asarray(todo, dtype=np.int64))
            keep = len(self._decoded) + len(todo) <= MAX_HEADERS
            for i, value in zip(todo, values, strict=True):
                found[i] = value
                if keep:
                    self._decoded[(key, int(rows[i]))] = value
        return found

    def _load(self, header_columns: Sequence[str]) -> bool:
        if self._disabled:
            return False
        if self._base is None:
            return self._load_all(header_columns)
        missing = [c for c in header_columns if c not in self._columns]
        if not missing:
            return True
        table = self._dataset.to_table(columns=[S.ID, *missing])
        if not table.column(S.ID).combine_chunks().equals(self._ids):
            return self._disable()  # a scan order that is not stable: never mix rows
        for name in missing:
            self._keep(name, table.column(name).combine_chunks())
        return self._bytes <= MAX_BYTES or self._disable()

    def _load_all(self, header_columns: Sequence[str]) -> bool:
        """One scan of every non-header column plus ``header_columns``; stops (and disables the
        cache) as soon as the rows or bytes pass the bounds."""
        schema = self._dataset.schema
        if S.ID not in schema.names:
            return self._disable()
        headers = {S.band_column(b) for b in S.bands_in_schema(schema)}
        names = [n for n in schema.names if n not in headers or n in header_columns]
        scanner = self._dataset.scanner(columns=names)
        batches: list[pa.RecordBatch] = []
        rows = size = 0
        for batch in scanner.to_batches():
            rows += batch.num_rows
            size += batch.nbytes
            if rows > MAX_ROWS or size > MAX_BYTES:
                return self._disable()
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=scanner.projected_schema).combine_chunks()
        for name in header_columns:
            self._keep(name, table.column(name).combine_chunks())
        table = table.drop_columns(list(header_columns))
        table = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
        self._ids = table.column(S.ID).combine_chunks()
        self._bytes += table.nbytes
        self._base = ds.dataset(table)
        return True

    def _keep(self, name: str, column: pa.Array) -> None:
        self._bytes += column.nbytes
        self._columns[name] = column

    def _disable(self) -> bool:
        self._disabled = True
        self._base = None
        self._ids = None
        self._columns.clear()
        self._decoded.clear()
        return False


_MISSING = object()
