"""Order-independent fingerprints of workload outputs, so contenders can be compared exactly.

Each contender adds what it produced (2-D arrays under a key such as ``aoi3/B04``, or point rows)
in whatever order it likes; the digest is the SHA-256 of the sorted parts. Adding only keeps a
reference, and :meth:`Digest.defer` postpones turning a library's native output (an Arrow table,
value arrays) into rows: hashing and conversion happen in :meth:`Digest.finish`, after the clock
has stopped. Standard library and NumPy only (contender processes in other venvs import it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import numpy as np


class Digest:
    """A multiset of hashed parts; equal digests mean the same outputs, in any order."""

    def __init__(self) -> None:
        self._arrays: list[tuple[str, np.ndarray]] = []
        self._rows: list[tuple[object, ...]] = []
        self._deferred: list[Callable[[Digest], None]] = []

    def add_array(self, key: str, array: np.ndarray) -> None:
        """One 2-D array; dtype, shape and every byte count (native byte order, C order)."""
        if np.ndim(array) != 2:
            raise ValueError(f"{key}: expected a 2-D array, got shape {np.shape(array)}")
        self._arrays.append((key, array))

    def add_row(self, *fields: object) -> None:
        """One record of plain values (ints, strings); floats must be integral pixel values."""
        self._rows.append(fields)

    def defer(self, convert: Callable[[Digest], None]) -> None:
        """Run ``convert(self)`` (which adds rows or arrays) in :meth:`finish`, untimed."""
        self._deferred.append(convert)

    def finish(self) -> list[str]:
        """The sorted parts: one line per array (key, dtype, shape, hash) and per row."""
        for convert in self._deferred:
            convert(self)
        self._deferred = []
        parts = ["|".join(_plain(f) for f in row) for row in self._rows]
        for key, array in self._arrays:
            a = np.asarray(array)
            a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
            h = hashlib.sha256(memoryview(a).cast("B")).hexdigest()[:24]
            parts.append(f"{key}|{a.dtype.name}|{a.shape[0]}x{a.shape[1]}|{h}")
        return sorted(parts)

    @staticmethod
    def hexdigest(parts: list[str]) -> str:
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _plain(value: object) -> str:
    if isinstance(value, float | np.floating):
        if value != value:  # NaN
            return "nan"
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def date_of(value: object) -> str:
    """``YYYY-MM-DD`` of a datetime, numpy datetime64, pandas Timestamp or ISO string."""
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    text = str(value)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d")
