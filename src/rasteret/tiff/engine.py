"""The one block fetch/decode engine, shared by ``GeoTiff.read`` and collection reads.

API (other layers code against exactly this)::

    @dataclass(frozen=True)
    class BlockRef:            # one block of one image of one file
        url: str
        layout: ImageLayout
        index: int             # index into layout.offsets / byte_counts
        etag: str | None = None   # when set, the fetch uses If-Match (ObjectChangedError if changed)

    Sink = Callable[[np.ndarray | None], None]

    @dataclass
    class FetchStats:
        requests: int; bytes: int; blocks: int; decoded: int; cached: int

    async def fetch_blocks(items: Sequence[tuple[BlockRef, Sink]], *, backend=None,
                           max_concurrent=None, coalesce_gap=None, progress=None) -> FetchStats
    def decode_block(data, layout) -> np.ndarray

A sink is called once per item with the decoded block, shape ``(block_rows, block_cols,
samples_in_block)`` in native byte order (``samples_in_block`` = SamplesPerPixel for chunky
images, 1 for planar ones; ``block_rows`` = the real rows of a short last strip, the full tile
height for tiles, padding included), or with ``None`` for a sparse block (offset or byte count
0). Blocks are read-only (they may be shared with the block cache and other calls) and valid
only while the sink runs (a block that is not cached may live in its decode thread's reused
buffer): a sink copies what it keeps. Sinks run on decode worker threads; they write disjoint
regions, so no locking is needed.
``progress(n)`` is called (also from worker threads) with the number of items just served.

How it runs (design.md "Rules of the hot path"): every range is planned before the first byte;
items wanting the same (url, offset) block share one fetch and one decode (``FetchStats.decoded
< blocks``); blocks held by the process-wide cache of decoded blocks (:mod:`rasteret.tiff.cache`)
or being fetched by another call are not fetched again (``FetchStats.cached``); a call whose
blocks would fill more than a quarter of the cache only reads from it. Ranges of one URL are
coalesced across gaps of ``coalesce_gap`` bytes; at most ``max_concurrent`` requests are in
flight for the whole call on the one shared backend; fetched ranges are decoded block by block
in a process-wide thread pool sized to the cores, as they arrive, and the bytes are dropped once
decoded. The event loop hears once per request (or batch of cache hits), not once per block.
Fetched-but-undecoded bytes are capped (see ``MAX_PENDING_BYTES``), so memory stays near the
size of the output.
Errors name the (redacted) URL and the block.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from rasteret._options import get_options
from rasteret.errors import StorageError, TiffFormatError
from rasteret.io import Backend, coalesce_ranges, default_backend, redact_url
from rasteret.tiff.cache import Abandoned, Key, backend_token, block_cache
from rasteret.tiff.decode import block_nbytes, check_supported
from rasteret.tiff.decode import decode_block as _decode_block
from rasteret.tiff.model import ImageLayout

__all__ = ["BlockRef", "FetchStats", "Sink", "decode_block", "decode_pool", "fetch_blocks"]

MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_PENDING_BYTES = 256 * 1024 * 1024
CACHE_SHARE = 4  # a call may fill at most 1/CACHE_SHARE of the block cache
INLINE_HIT_BYTES = 64 * 1024 * 1024  # cache hits up to this size are handed out on the loop

Sink = Callable[[np.ndarray | None], None]


@dataclass(frozen=True)
class BlockRef:
    """One block of one image of one file."""

    url: str
    layout: ImageLayout
    index: int
    etag: str | None = None


@dataclass
class FetchStats:
    """What one :func:`fetch_blocks` call did."""

    requests: int = 0
    bytes: int = 0
    blocks: int = 0
    decoded: int = 0
    cached: int = 0


def decode_block(data: bytes | memoryview, layout: ImageLayout) -> np.ndarray:
    """Decode one block (sync); same shape contract as the sinks of :func:`fetch_blocks`."""
    return _decode_block(data, layout)


# --- decode pool ----------------------------------------------------------------------------


def _cores() -> int:
    """Cores this process may run on (affinity-aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None


def _threads() -> int:
    return get_options().decode_threads or _cores()


def decode_pool() -> ThreadPoolExecutor:
    """The process-wide decode pool (``options.decode_threads`` workers; 0 = the core count)."""
    global _pool, _pool_key
    threads = _threads()
    key = (os.getpid(), threads)
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rasteret-decode")
            _pool_key = key
        return _pool


_local = threading.local()


def _scratch(nbytes: int) -> np.ndarray:
    """This decode thread's reusable output buffer, grown to at least ``nbytes``."""
    buf: np.ndarray | None = getattr(_local, "scratch", None)
    if buf is None or buf.nbytes < nbytes:
        buf = _local.scratch = np.empty(nbytes, np.uint8)
    return buf


# --- planning -------------------------------------------------------------------------------


@dataclass(eq=False)
class _Block:
    ref: BlockRef
    start: int
    end: int
    sinks: list[Sink] = field(default_factory=list)
    key: Key | None = None  # set while this call owns the block's fetch in the cache
    future: Future[np.ndarray] | None = None


@dataclass
class _Request:
    url: str
    etag: str | None
    start: int
    end: int
    blocks: list[_Block]


def _unique(
    items: Sequence[tuple[BlockRef, Sink]],
) -> tuple[list[_Block], list[tuple[BlockRef, list[Sink]]], dict[str, str | None]]:
    """Distinct blocks (each with every sink that wants it), sparse blocks, and the ETag used
    for each URL's requests."""
    unique: dict[tuple[str, int, int], _Block] = {}
    sparse: dict[tuple[str, int, int], tuple[BlockRef, list[Sink]]] = {}
    etags: dict[str, str | None] = {}
    for ref, sink in items:
        layout = ref.layout
        if not 0 <= ref.index < len(layout.offsets):
            raise TiffFormatError(
                f"{redact_url(ref.url)}: block {ref.index} does not exist "
                f"(the image has {len(layout.offsets)})"
            )
        start = int(layout.offsets[ref.index])
        length = int(layout.byte_counts[ref.index])
        if start == 0 or length == 0:
            sparse.setdefault((ref.url, id(layout), ref.index), (ref, []))[1].append(sink)
            continue
        key = (ref.url, start, length)
        block = unique.get(key)
        if block is None:
            check_supported(layout, redact_url(ref.url))
            block = unique[key] = _Block(ref, start, start + length)
        block.sinks.append(sink)
        if ref.etag and not etags.get(ref.url):
            etags[ref.url] = ref.etag
        else:
            etags.setdefault(ref.url, None)
    return list(unique.values()), list(sparse.values()), etags


def _requests(blocks: Sequence[_Block], etags: dict[str, str | None], gap: int) -> list[_Request]:
    """Coalesced requests per URL for ``blocks``."""
    by_url: dict[str, list[_Block]] = {}
    for block in blocks:
        by_url.setdefault(block.ref.url, []).append(block)
    requests = []
    for url, members in by_url.items():
        merged = coalesce_ranges(
            [(b.start, b.end) for b in members], gap=gap, max_size=MAX_REQUEST_BYTES
        )
        for m in merged:
            group = sorted((members[i] for i in m.members), key=lambda b: b.start)
            requests.append(_Request(url, etags.get(url), m.start, m.end, group))
    return requests


def _cache_key(block: _Block, token: int) -> Key | None:
    etag = block.ref.etag
    return (block.ref.url, block.start, block.end - block.start, etag, token) if etag else None


def _decoded_bytes(blocks: Sequence[_Block]) -> int:
    """About the memory the decoded blocks take (1-bit masks count one bit per pixel)."""
    return sum(block_nbytes(b.ref.layout) for b in blocks)


# --- execution ------------------------------------------------------------------------------


class _Budget:
    """Caps the bytes fetched but not decoded yet (one request may exceed it alone)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.cond = asyncio.Condition()

    async def acquire(self, n: int) -> None:
        async with self.cond:
            await self.cond.wait_for(lambda: self.used == 0 or self.used + n <= self.limit)
            self.used += n

    async def release(self, n: int) -> None:
        async with self.cond:
            self.used -= n
            self.cond.notify_all()


class _Wakeups:
    """Decode threads tell the event loop that a group of jobs finished. Every
    ``call_soon_threadsafe`` writes to the loop's self-pipe, so reports that arrive before the
    loop got round to the previous one share its wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._ready: list[tuple[asyncio.Future[None], BaseException | None]] = []
        self._scheduled = False

    def post(self, done: asyncio.Future[None], error: BaseException | None) -> None:
        with self._lock:
            self._ready.append((done, error))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def _drain(self) -> None:
        with self._lock:
            ready, self._ready, self._scheduled = self._ready, [], False
        for done, error in ready:
            if done.done():  # the waiting task was cancelled
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)


class _Group:
    """Jobs on the decode pool reported to the loop once, when the last one finished."""

    def __init__(self, count: int, done: asyncio.Future[None], wakeups: _Wakeups) -> None:
        self._left = count
        self._done = done
        self._wakeups = wakeups
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[], None]) -> None:
        error = None
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
        with self._lock:
            if error is not None and self._error is None:
                self._error = error
            self._left -= 1
            last = self._left == 0
        if last:
            self._wakeups.post(self._done, self._error)


class _Call:
    """One :func:`fetch_blocks` call: cache look-ups, requests, decode jobs, deliveries."""

    def __init__(
        self,
        backend: Backend,
        limit: int,
        gap: int,
        progress: Callable[[int], None] | None,
        stats: FetchStats,
    ) -> None:
        self.backend = backend
        self.gap = gap
        self.progress = progress
        self.stats = stats
        self.loop = asyncio.get_running_loop()
        self.pool = decode_pool()
        self.slots = asyncio.Semaphore(limit)
        self.budget = _Budget(MAX_PENDING_BYTES)
        self.wakeups = _Wakeups(self.loop)
        self.cache = block_cache()
        self.token = backend_token(backend)
        self.owned: list[_Block] = []

    async def serve(self, blocks: list[_Block], etags: dict[str, str | None]) -> None:
        # A call whose blocks would fill a large share of the cache only reads from it, so
        # one big scan does not evict every other reader's working set.
        cache = self.cache
        share = cache is not None and _decoded_bytes(blocks) * CACHE_SHARE <= cache.max_bytes
        try:
            while blocks:
                hits, waits, fetch = self._sort(blocks, share)
                retry: list[_Block] = []
                if hits and _decoded_bytes([b for b, _ in hits]) <= INLINE_HIT_BYTES:
                    # a few copies: cheaper here than two thread hand-offs (and GIL switches)
                    self._hand_all(hits)
                    self.stats.cached += len(hits)
                    hits = []
                async with asyncio.TaskGroup() as group:
                    if hits:
                        group.create_task(self._deliver_hits(hits))
                    for block, future in waits:
                        group.create_task(self._wait(block, future, retry))
                    for req in _requests(fetch, etags, self.gap):
                        group.create_task(self._fetch(req))
                blocks = retry
        except BaseExceptionGroup as errors:
            raise _first(errors) from None
        finally:
            if cache is not None:
                for block in self.owned:  # no-op for the blocks already resolved
                    assert block.key is not None and block.future is not None
                    cache.abandon(block.key, block.future, Abandoned())

    def _sort(
        self, blocks: list[_Block], share: bool
    ) -> tuple[
        list[tuple[_Block, np.ndarray]], list[tuple[_Block, Future[np.ndarray]]], list[_Block]
    ]:
        """Split blocks into cache hits, blocks another caller is fetching, and blocks to fetch."""
        cache = self.cache
        hits: list[tuple[_Block, np.ndarray]] = []
        waits: list[tuple[_Block, Future[np.ndarray]]] = []
        fetch: list[_Block] = []
        for block in blocks:
            key = _cache_key(block, self.token) if cache is not None else None
            if cache is None or key is None:
                fetch.append(block)
            elif not share:
                found = cache.get(key)
                if found is not None:
                    hits.append((block, found))
                else:
                    fetch.append(block)
            else:
                found, future, owned = cache.begin(key)
                if found is not None:
                    hits.append((block, found))
                elif not owned:
                    assert future is not None
                    waits.append((block, future))
                else:
                    block.key, block.future = key, future
                    self.owned.append(block)
                    fetch.append(block)
        return hits, waits, fetch

    async def _jobs(self, jobs: Sequence[Callable[[], None]]) -> None:
        """Run ``jobs`` on the decode pool; resume once all finished (first error raised)."""
        done: asyncio.Future[None] = self.loop.create_future()
        group = _Group(len(jobs), done, self.wakeups)
        for job in jobs:
            self.pool.submit(group.run, job)
        await done

    async def _fetch(self, req: _Request) -> None:
        size = req.end - req.start
        await self.budget.acquire(size)
        try:
            async with self.slots:
                try:
                    data = await self.backend.get_range(req.url, req.start, req.end, etag=req.etag)
                except StorageError as exc:
                    raise type(exc)(
                        f"{exc} (while reading {len(req.blocks)} block(s) at bytes "
                        f"{req.start}-{req.end})"
                    ) from None
            self.stats.requests += 1
            self.stats.bytes += size
            view = memoryview(data)
            await self._jobs(
                [
                    functools.partial(
                        self._decode, view[b.start - req.start : b.end - req.start], b
                    )
                    for b in req.blocks
                ]
            )
            self.stats.decoded += len(req.blocks)
        finally:
            await self.budget.release(size)

    async def _deliver_hits(self, hits: list[tuple[_Block, np.ndarray]]) -> None:
        n = min(len(hits), _threads())
        await self._jobs([functools.partial(self._hand_all, hits[i::n]) for i in range(n)])
        self.stats.cached += len(hits)

    async def _wait(self, block: _Block, future: Future[np.ndarray], retry: list[_Block]) -> None:
        try:
            found = await asyncio.wrap_future(future)
        except Abandoned:
            retry.append(block)  # its owner gave up: fetch it in the next round
            return
        await self._jobs([functools.partial(self._hand, block, found)])
        self.stats.cached += 1

    def _decode(self, data: memoryview, block: _Block) -> None:
        ref = block.ref
        scratch = None if block.future is not None else _scratch(block_nbytes(ref.layout))
        try:
            arr = _decode_block(data, ref.layout, index=ref.index, scratch=scratch)
        except TiffFormatError as exc:
            layout = ref.layout
            raise type(exc)(
                f"{redact_url(ref.url)}: block {ref.index} (bytes {block.start}-{block.end}) of "
                f"the {layout.width}x{layout.height} image: {exc}"
            ) from None
        if self.cache is not None and block.key is not None and block.future is not None:
            arr = self.cache.resolve(block.key, block.future, arr)
        else:
            arr.flags.writeable = False
        self._hand(block, arr)

    def _hand(self, block: _Block, arr: np.ndarray) -> None:
        for sink in block.sinks:
            sink(arr)
        if self.progress is not None:
            self.progress(len(block.sinks))

    def _hand_all(self, hits: list[tuple[_Block, np.ndarray]]) -> None:
        for block, arr in hits:
            self._hand(block, arr)


async def fetch_blocks(
    items: Sequence[tuple[BlockRef, Sink]],
    *,
    backend: Backend | None = None,
    max_concurrent: int | None = None,
    coalesce_gap: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FetchStats:
    """Fetch, decode and hand to its sink every block in ``items``; see the module docstring."""
    opts = get_options()
    limit = max_concurrent or opts.max_concurrent_requests
    gap = opts.coalesce_gap if coalesce_gap is None else coalesce_gap
    stats = FetchStats(blocks=len(items))
    blocks, sparse, etags = _unique(items)
    for _, sinks in sparse:
        for sink in sinks:
            sink(None)
        if progress is not None:
            progress(len(sinks))
    if blocks:
        call = _Call(backend or default_backend(), limit, gap, progress, stats)
        await call.serve(blocks, etags)
    return stats


def _first(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
