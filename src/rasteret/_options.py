"""Process-wide options (progress bars and read tuning), set globally or for a block."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from rasteret.errors import ConfigError


@dataclass(frozen=True)
class RasteretOptions:
    """Defaults used when a call does not say otherwise.

    progress: show progress bars on a terminal (never when output is piped).
    max_concurrent_requests: byte-range requests in flight per read call.
    coalesce_gap: merge two byte ranges of one file when at most this many bytes apart.
    decode_threads: size of the GIL-free decode pool (0 = number of cores).
    block_cache_bytes: memory for decoded blocks kept between reads (0 disables the cache).
    """

    progress: bool = True
    max_concurrent_requests: int = 64
    coalesce_gap: int = 64 * 1024
    decode_threads: int = 0
    block_cache_bytes: int = 256 * 1024 * 1024


_lock = threading.Lock()
_current = RasteretOptions()


def get_options() -> RasteretOptions:
    """Return the options in force."""
    return _current


def _validated(**changes: object) -> RasteretOptions:
    known = {f.name for f in dataclasses.fields(RasteretOptions)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; known options: {sorted(known)}")
    updates = {k: v for k, v in changes.items() if v is not None}
    new = dataclasses.replace(_current, **updates)
    for name in ("max_concurrent_requests",):
        if int(getattr(new, name)) < 1:
            raise ConfigError(f"option {name} must be >= 1, got {getattr(new, name)!r}")
    for name in ("coalesce_gap", "decode_threads", "block_cache_bytes"):
        if int(getattr(new, name)) < 0:
            raise ConfigError(f"option {name} must be >= 0, got {getattr(new, name)!r}")
    return new


def set_options(**changes: object) -> RasteretOptions:
    """Change options for the rest of the process; ``None`` values are left unchanged."""
    global _current
    with _lock:
        _current = _validated(**changes)
        return _current


@contextlib.contextmanager
def options(**changes: object) -> Iterator[RasteretOptions]:
    """Change options inside a ``with`` block only."""
    global _current
    with _lock:
        previous = _current
        _current = _validated(**changes)
    try:
        yield _current
    finally:
        with _lock:
            _current = previous
