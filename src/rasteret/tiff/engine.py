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
        requests: int; bytes: int; blocks: int; decoded: int

    async def fetch_blocks(items: Sequence[tuple[BlockRef, Sink]], *, backend=None,
                           max_concurrent=None, coalesce_gap=None, progress=None) -> FetchStats
    def decode_block(data, layout) -> np.ndarray

A sink is called once per item with the decoded block, shape ``(block_rows, block_cols,
samples_in_block)`` in native byte order (``samples_in_block`` = SamplesPerPixel for chunky
images, 1 for planar ones; ``block_rows`` = the real rows of a short last strip, the full tile
height for tiles, padding included), or with ``None`` for a sparse block (offset or byte count
0). Sinks run on decode worker threads; they write disjoint regions, so no locking is needed.
``progress(n)`` is called (also from worker threads) with the number of items just served.

How it runs (design.md "Rules of the hot path"): every range is planned before the first byte;
items wanting the same (url, offset) block share one fetch and one decode (``FetchStats.decoded
< blocks``); ranges of one URL are coalesced across gaps of ``coalesce_gap`` bytes; at most
``max_concurrent`` requests are in flight for the whole call on the one shared backend; fetched
ranges are decoded block by block in a process-wide thread pool sized to the cores, as they
arrive, and the bytes are dropped once decoded. Fetched-but-undecoded bytes are capped (see
``MAX_PENDING_BYTES``), so memory stays near the size of the output.
Errors name the (redacted) URL and the block.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from rasteret._options import get_options
from rasteret.errors import StorageError, TiffFormatError
from rasteret.io import Backend, coalesce_ranges, default_backend, redact_url
from rasteret.tiff.decode import check_supported
from rasteret.tiff.decode import decode_block as _decode_block
from rasteret.tiff.model import ImageLayout

__all__ = ["BlockRef", "FetchStats", "Sink", "decode_block", "decode_pool", "fetch_blocks"]

MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_PENDING_BYTES = 256 * 1024 * 1024

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


def decode_pool() -> ThreadPoolExecutor:
    """The process-wide decode pool (``options.decode_threads`` workers; 0 = the core count)."""
    global _pool, _pool_key
    threads = get_options().decode_threads or _cores()
    key = (os.getpid(), threads)
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rasteret-decode")
            _pool_key = key
        return _pool


# --- planning -------------------------------------------------------------------------------


@dataclass
class _Block:
    ref: BlockRef
    start: int
    end: int
    sinks: list[Sink] = field(default_factory=list)


@dataclass
class _Request:
    url: str
    etag: str | None
    start: int
    end: int
    blocks: list[_Block]


def _plan(
    items: Sequence[tuple[BlockRef, Sink]], gap: int
) -> tuple[list[_Request], list[tuple[BlockRef, list[Sink]]]]:
    """Group items into unique blocks, then into coalesced requests per URL."""
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
    by_url: dict[str, list[_Block]] = {}
    for block in unique.values():
        by_url.setdefault(block.ref.url, []).append(block)
    requests = []
    for url, blocks in by_url.items():
        merged = coalesce_ranges(
            [(b.start, b.end) for b in blocks], gap=gap, max_size=MAX_REQUEST_BYTES
        )
        for m in merged:
            members = sorted((blocks[i] for i in m.members), key=lambda b: b.start)
            requests.append(_Request(url, etags.get(url), m.start, m.end, members))
    return requests, list(sparse.values())


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


def _deliver(data: memoryview, block: _Block, progress: Callable[[int], None] | None) -> None:
    ref = block.ref
    try:
        arr = _decode_block(data, ref.layout, index=ref.index)
    except TiffFormatError as exc:
        layout = ref.layout
        raise type(exc)(
            f"{redact_url(ref.url)}: block {ref.index} (bytes {block.start}-{block.end}) of "
            f"the {layout.width}x{layout.height} image: {exc}"
        ) from None
    for sink in block.sinks:
        sink(arr)
    if progress is not None:
        progress(len(block.sinks))


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
    backend = backend or default_backend()
    limit = max_concurrent or opts.max_concurrent_requests
    gap = opts.coalesce_gap if coalesce_gap is None else coalesce_gap
    stats = FetchStats(blocks=len(items))
    requests, sparse = _plan(items, gap)
    for _, sinks in sparse:
        for sink in sinks:
            sink(None)
        if progress is not None:
            progress(len(sinks))
    if not requests:
        return stats
    loop = asyncio.get_running_loop()
    pool = decode_pool()
    slots = asyncio.Semaphore(limit)
    budget = _Budget(MAX_PENDING_BYTES)

    async def run(req: _Request) -> None:
        size = req.end - req.start
        await budget.acquire(size)
        try:
            async with slots:
                try:
                    data = await backend.get_range(req.url, req.start, req.end, etag=req.etag)
                except StorageError as exc:
                    raise type(exc)(
                        f"{exc} (while reading {len(req.blocks)} block(s) at bytes "
                        f"{req.start}-{req.end})"
                    ) from None
            stats.requests += 1
            stats.bytes += size
            view = memoryview(data)
            await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool,
                        _deliver,
                        view[b.start - req.start : b.end - req.start],
                        b,
                        progress,
                    )
                    for b in req.blocks
                )
            )
            stats.decoded += len(req.blocks)
        finally:
            await budget.release(size)

    try:
        async with asyncio.TaskGroup() as group:
            for req in requests:
                group.create_task(run(req))
    except BaseExceptionGroup as errors:
        raise _first(errors) from None
    return stats


def _first(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
