"""A process-wide, byte-bounded LRU cache of decoded blocks, shared by every read.

Why: sampler-style reads (one chip after another, TorchGeo's access pattern) touch the same tiles
again and again; GDAL keeps decoded blocks between calls and so should we. Keys are
``(url, offset, byte_count, etag, backend)``: a block is only cached when its file's ETag is
known, so a replaced file (new ETag) never serves old pixels, and only a read through the same
backend (the same credentials) gets it, so a caller without access to a bucket cannot read what
another one fetched. Values are read-only arrays, so no caller can corrupt what another one reads. ``used`` counts the bytes each entry keeps alive (a block that is
a view of a larger buffer is compacted before it is stored).

Concurrent misses coalesce: the first caller to :meth:`BlockCache.begin` a missing key owns its
fetch and must :meth:`~BlockCache.resolve` or :meth:`~BlockCache.abandon` it; callers that begin
the same key meanwhile get a future to wait on instead of fetching it again. The futures are
``concurrent.futures.Future`` because callers may run on different event loops and threads.
The size is ``options.block_cache_bytes`` (0 disables the cache).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

import numpy as np

from rasteret._options import get_options

__all__ = [
    "Abandoned",
    "BlockCache",
    "CacheStats",
    "Key",
    "backend_token",
    "block_cache",
    "clear_block_cache",
    "frozen",
]

Key = tuple[str, int, int, str, int]


class Abandoned(Exception):  # noqa: N818 - a signal between callers, never shown to users
    """The caller that owned a fetch gave up (cancelled); waiters fetch the block themselves."""


@dataclass(frozen=True)
class CacheStats:
    """Counters of the cache since it was created (or cleared)."""

    entries: int
    used: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int


class BlockCache:
    """LRU of decoded blocks, bounded by the bytes they keep alive; thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, tuple[np.ndarray, int]] = OrderedDict()
        self._pending: dict[Key, Future[np.ndarray]] = {}
        self._used = 0
        self._hits = self._misses = self._evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def used(self) -> int:
        """Bytes held by the cached blocks."""
        return self._used

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                len(self._entries),
                self._used,
                self.max_bytes,
                self._hits,
                self._misses,
                self._evictions,
            )

    def get(self, key: Key) -> np.ndarray | None:
        """The cached block, or None (counts a hit or a miss)."""
        with self._lock:
            return self._get(key)

    def begin(self, key: Key) -> tuple[np.ndarray | None, Future[np.ndarray] | None, bool]:
        """Start using ``key``. Returns ``(block, None, False)`` on a hit; ``(None, future,
        False)`` when another caller is fetching it (wait on the future); ``(None, future,
        True)`` when the caller now owns the fetch and must :meth:`resolve` or :meth:`abandon`
        it with that future."""
        with self._lock:
            block = self._get(key)
            if block is not None:
                return block, None, False
            pending = self._pending.get(key)
            if pending is not None:
                return None, pending, False
            future: Future[np.ndarray] = Future()
            self._pending[key] = future
            return None, future, True

    def resolve(self, key: Key, future: Future[np.ndarray], block: np.ndarray) -> np.ndarray:
        """Finish an owned fetch: cache ``block`` (read-only) and hand it to the waiters."""
        block, size = frozen(block)
        with self._lock:
            if self._pending.get(key) is future:
                del self._pending[key]
            if size <= self.max_bytes:
                self._put(key, block, size)
        _settle(future, block, None)
        return block

    def abandon(self, key: Key, future: Future[np.ndarray], error: BaseException) -> None:
        """Give up an owned fetch (no-op once resolved); waiters get ``error``."""
        with self._lock:
            if self._pending.get(key) is future:
                del self._pending[key]
        _settle(future, None, error)

    def resize(self, max_bytes: int) -> None:
        """Change the bound, evicting least recently used blocks as needed."""
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._evict()

    def clear(self) -> None:
        """Drop every block and reset the counters (fetches in flight are not affected)."""
        with self._lock:
            self._entries.clear()
            self._used = 0
            self._hits = self._misses = self._evictions = 0

    # --- under the lock -------------------------------------------------------------------

    def _get(self, key: Key) -> np.ndarray | None:
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return entry[0]

    def _put(self, key: Key, block: np.ndarray, size: int) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._used -= old[1]
        self._entries[key] = (block, size)
        self._used += size
        self._evict()

    def _evict(self) -> None:
        while self._used > self.max_bytes and self._entries:
            _, (_, size) = self._entries.popitem(last=False)
            self._used -= size
            self._evictions += 1


def _settle(
    future: Future[np.ndarray], block: np.ndarray | None, error: BaseException | None
) -> None:
    try:
        if error is None:
            future.set_result(block)  # type: ignore[arg-type]
        else:
            future.set_exception(error)
    except InvalidStateError:  # settled already (resolved after being abandoned)
        pass


def frozen(block: np.ndarray) -> tuple[np.ndarray, int]:
    """``block`` made read-only, and the bytes it keeps alive. A view into memory that is not
    its own (a fetched buffer) or into a larger array is copied first, so a cached tile never
    pins a whole coalesced request."""
    root = block
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root.base is not None or root.nbytes > block.nbytes:
        block = block.copy()
        root = block
    block.flags.writeable = False
    return block, root.nbytes


_tokens: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
_counter = itertools.count(1)
_cache_lock = threading.Lock()
_cache: BlockCache | None = None


def block_cache() -> BlockCache | None:
    """The process-wide cache sized by ``options.block_cache_bytes``; None when that is 0."""
    global _cache
    size = get_options().block_cache_bytes
    with _cache_lock:
        if size <= 0:
            if _cache is not None:
                _cache.resize(0)
            return None
        if _cache is None:
            _cache = BlockCache(size)
        elif _cache.max_bytes != size:
            _cache.resize(size)
        return _cache


def backend_token(backend: object) -> int:
    """A number that stays with ``backend`` for its lifetime and is never reused (``id()`` is
    reused after garbage collection; a new backend must not inherit old entries)."""
    with _cache_lock:
        try:
            token = _tokens.get(backend)
            if token is None:
                token = _tokens[backend] = next(_counter)
            return token
        except TypeError:  # not weak-referenceable: identity for as long as it lives
            return -id(backend)


def clear_block_cache() -> None:
    """Drop every cached block of this process."""
    with _cache_lock:
        if _cache is not None:
            _cache.clear()
