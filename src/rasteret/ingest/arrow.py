"""Turn anything that holds Arrow data into PyArrow: tables, datasets, readers, DuckDB relations,
Polars and (Geo)Pandas frames, and any ``__arrow_c_stream__`` producer."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.errors import BuildError


def as_arrow(obj: Any) -> pa.Table | ds.Dataset:
    """A PyArrow Table or Dataset holding ``obj``'s rows (datasets stay lazy)."""
    if isinstance(obj, pa.Table | ds.Dataset):
        return obj
    inner = getattr(obj, "dataset", None)
    if isinstance(inner, ds.Dataset):  # a Collection
        return inner
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    if isinstance(obj, pa.RecordBatchReader):
        return obj.read_all()
    module = type(obj).__module__.split(".")[0]
    if module == "geopandas" and hasattr(obj, "to_arrow"):
        return pa.table(obj.to_arrow(geometry_encoding="WKB"))
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.table(obj)
    for method in ("to_arrow_table", "fetch_arrow_table", "to_arrow", "arrow"):
        fn = getattr(obj, method, None)
        if callable(fn):
            out = fn()
            if isinstance(out, pa.RecordBatchReader):
                return out.read_all()
            if isinstance(out, pa.Table):
                return out
    if module == "pandas":
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise BuildError(
        f"cannot read rows from a {type(obj).__name__}: pass a Parquet path, a PyArrow "
        "Table/Dataset, a DuckDB relation, a Polars or (Geo)Pandas frame, or any object with "
        "__arrow_c_stream__"
    )


def is_path_like(obj: Any) -> bool:
    return isinstance(obj, str | os.PathLike)
