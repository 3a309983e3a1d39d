"""The process-wide cache of decoded blocks: hits, LRU eviction by bytes, ETag keys, read-only
blocks, honest memory accounting, big calls that only read it, and concurrent callers sharing one
fetch (also when the owner gives up)."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rasteret import options
from rasteret.errors import TiffFormatError
from rasteret.io import run_sync
from rasteret.tiff import BlockRef, fetch_blocks, open_geotiff
from rasteret.tiff.cache import BlockCache, block_cache
from tests.geotiff import noise, write_geotiff
from tests.tiff.test_engine import CountingBackend


@pytest.fixture
def tiled(tmp_path: Path) -> Path:
    """128x96 uint16, 3 bands pixel-interleaved, 32x32 DEFLATE tiles (4x3 tiles)."""
    return write_geotiff(tmp_path / "t.tif", noise(3, 96, 128), tiled=True, blockxsize=32,
                 blockysize=32, compress="DEFLATE")  # fmt: skip


def rasterio_tile(path: Path, index: int, across: int = 4) -> np.ndarray:
    row, col = divmod(index, across)
    with rasterio.open(path) as src:
        data = src.read(window=((row * 32, row * 32 + 32), (col * 32, col * 32 + 32)))
    return np.moveaxis(data, 0, 2)


def test_second_read_is_served_from_the_cache(tiled: Path) -> None:
    header = open_geotiff(str(tiled)).header
    indexes = (0, 5, 11)
    first: dict[int, np.ndarray] = {}
    second: dict[int, np.ndarray] = {}

    def items(store: dict) -> list:
        refs = [BlockRef(str(tiled), header.full, i, etag=header.etag) for i in indexes]
        return [(r, lambda b, i=r.index: store.setdefault(i, b)) for r in refs]

    backend = CountingBackend()
    stats = run_sync(fetch_blocks(items(first), backend=backend))
    assert (stats.requests, stats.decoded, stats.cached) == (1, 3, 0)
    stats = run_sync(fetch_blocks(items(second), backend=backend))
    assert (stats.requests, stats.decoded, stats.cached) == (0, 0, 3)
    assert len(backend.ranges) == 1
    for i in indexes:
        assert second[i] is first[i]  # the very same read-only array
        np.testing.assert_array_equal(second[i], rasterio_tile(tiled, i))
    cache = block_cache()
    assert cache is not None and len(cache) == 3 and cache.stats().hits == 3


def test_another_backend_does_not_see_cached_blocks(tiled: Path) -> None:
    """Cached pixels are only served through the backend (credentials) that fetched them."""
    header = open_geotiff(str(tiled)).header
    items = [(BlockRef(str(tiled), header.full, 4, etag=header.etag), lambda b: None)]
    run_sync(fetch_blocks(items, backend=CountingBackend()))
    other = CountingBackend()
    assert run_sync(fetch_blocks(items, backend=other)).requests == 1
    assert run_sync(fetch_blocks(items, backend=other)).cached == 1


def test_blocks_are_read_only(tiled: Path) -> None:
    header = open_geotiff(str(tiled)).header
    cached, plain = [], []
    run_sync(
        fetch_blocks([(BlockRef(str(tiled), header.full, 0, etag=header.etag), cached.append)])
    )
    run_sync(fetch_blocks([(BlockRef(str(tiled), header.full, 1), plain.append)]))  # no ETag
    for block in (cached[0], plain[0]):
        assert not block.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            block[0, 0, 0] = 1
    np.testing.assert_array_equal(cached[0], rasterio_tile(tiled, 0))


def test_blocks_without_etag_are_not_cached(tiled: Path) -> None:
    layout = open_geotiff(str(tiled)).header.full
    items = [(BlockRef(str(tiled), layout, 2), lambda b: None)]
    backend = CountingBackend()
    run_sync(fetch_blocks(items, backend=backend))
    assert run_sync(fetch_blocks(items, backend=backend)).requests == 1


def test_a_new_etag_is_a_miss_and_reads_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "v.tif"
    original = noise(1, 64, 64)
    write_geotiff(path, original, tiled=True, blockxsize=32, blockysize=32)
    old = open_geotiff(str(path)).header
    backend = CountingBackend()
    got: list = []
    old_ref = BlockRef(str(path), old.full, 3, etag=old.etag)
    run_sync(fetch_blocks([(old_ref, got.append)], backend=backend))
    replacement = (original + 7).astype("uint16")
    write_geotiff(path, replacement, tiled=True, blockxsize=32, blockysize=32)  # same layout
    stat = path.stat()  # make sure the ETag (inode, mtime, size) changes
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    new = open_geotiff(str(path)).header
    assert new.etag != old.etag
    assert int(new.full.offsets[3]) == int(old.full.offsets[3])
    new_ref = BlockRef(str(path), new.full, 3, etag=new.etag)
    stats = run_sync(fetch_blocks([(new_ref, got.append)], backend=backend))
    assert (stats.requests, stats.cached) == (1, 0)
    np.testing.assert_array_equal(got[0][:, :, 0], original[0, 32:, 32:])
    np.testing.assert_array_equal(got[1][:, :, 0], replacement[0, 32:, 32:])
    # the old ETag still names the old bytes: its cached block is what that version held
    stats = run_sync(fetch_blocks([(old_ref, got.append)], backend=backend))
    assert (stats.requests, stats.cached) == (0, 1) and got[2] is got[0]


def test_lru_eviction_by_bytes() -> None:
    cache = BlockCache(3 * 1000)
    blocks = {k: np.full(1000, k, np.uint8) for k in range(4)}

    def put(k: int) -> None:
        found, future, owned = cache.begin(("u", k, 1, "e"))
        assert found is None and owned and future is not None
        cache.resolve(("u", k, 1, "e"), future, blocks[k])

    for k in range(3):
        put(k)
    assert cache.used == 3000 and len(cache) == 3
    assert cache.get(("u", 0, 1, "e")) is not None  # 0 is now the most recent
    put(3)  # evicts 1, the least recently used
    assert cache.get(("u", 1, 1, "e")) is None
    assert [cache.get(("u", k, 1, "e")) is not None for k in (0, 2, 3)] == [True] * 3
    assert cache.used == 3000 and cache.stats().evictions == 1
    cache.resize(1500)
    assert len(cache) == 1 and cache.used == 1000
    assert cache.get(("u", 3, 1, "e")) is not None  # the most recent one stays


def test_memory_accounting_compacts_views_of_fetched_bytes(tmp_path: Path) -> None:
    """Uncompressed blocks are views of the fetched (coalesced) buffer: the cache copies them,
    so ``used`` is the blocks' own size and no request buffer stays alive."""
    path = write_geotiff(tmp_path / "raw.tif", noise(1, 128, 128), tiled=True, blockxsize=32,
                 blockysize=32)  # fmt: skip
    header = open_geotiff(str(path)).header
    got: list = []
    items = [(BlockRef(str(path), header.full, i, etag=header.etag), got.append) for i in range(16)]
    stats = run_sync(fetch_blocks(items, backend=CountingBackend()))
    assert stats.requests == 1  # one coalesced buffer for all 16 tiles
    cache = block_cache()
    assert cache is not None
    assert cache.used == 16 * 32 * 32 * 2
    for block in got:
        assert block.base is None or block.base.nbytes == block.nbytes


def test_cache_size_option(tiled: Path) -> None:
    header = open_geotiff(str(tiled)).header
    items = [
        (BlockRef(str(tiled), header.full, i, etag=header.etag), lambda b: None) for i in (0, 1)
    ]
    backend = CountingBackend()
    with options(block_cache_bytes=0):
        assert block_cache() is None
        run_sync(fetch_blocks(items, backend=backend))
        assert run_sync(fetch_blocks(items, backend=backend)).requests == 1
    one_tile = 32 * 32 * 3 * 2
    with options(block_cache_bytes=8 * one_tile):  # two tiles fill a quarter of it: cached
        run_sync(fetch_blocks(items, backend=backend))
        assert run_sync(fetch_blocks(items, backend=backend)).cached == 2
    with options(block_cache_bytes=7 * one_tile):  # a call filling over a quarter only reads
        cache = block_cache()
        assert cache is not None and len(cache) == 2  # shrunk, kept what fits
        cache.clear()
        run_sync(fetch_blocks(items, backend=backend))
        assert len(cache) == 0


def test_big_reads_use_cached_blocks_without_storing(tiled: Path) -> None:
    header = open_geotiff(str(tiled)).header
    one_tile = 32 * 32 * 3 * 2
    with options(block_cache_bytes=12 * one_tile):
        first = BlockRef(str(tiled), header.full, 0, etag=header.etag)
        backend = CountingBackend()
        run_sync(fetch_blocks([(first, lambda b: None)], backend=backend))
        items = [
            (BlockRef(str(tiled), header.full, i, etag=header.etag), lambda b: None)
            for i in range(12)
        ]
        stats = run_sync(fetch_blocks(items, backend=backend))
        assert (stats.cached, stats.decoded) == (1, 11)
        cache = block_cache()
        assert cache is not None and len(cache) == 1


def test_concurrent_callers_share_one_fetch(tiled: Path) -> None:
    header = open_geotiff(str(tiled)).header
    backend = CountingBackend(delay=0.05)
    results: list[list] = [[], [], []]

    async def both() -> list:
        calls = [
            fetch_blocks(
                [
                    (BlockRef(str(tiled), header.full, i, etag=header.etag), results[k].append)
                    for i in range(12)
                ],
                backend=backend,
                coalesce_gap=0,
            )  # fmt: skip
            for k in range(3)
        ]
        return await asyncio.gather(*calls)

    stats = run_sync(both())
    assert len(backend.ranges) == 1  # the tiles touch: one request for all three callers
    assert sum(s.decoded for s in stats) == 12 and sum(s.cached for s in stats) == 24
    for k in (1, 2):
        assert sorted(id(b) for b in results[k]) == sorted(id(b) for b in results[0])


def test_concurrent_callers_from_threads(tiled: Path) -> None:
    """Callers on different event loops (threads) wait on each other's fetches."""
    header = open_geotiff(str(tiled)).header
    backend = CountingBackend(delay=0.05)
    lock = threading.Lock()
    seen: dict[int, np.ndarray] = {}

    def call(k: int) -> None:
        def sink(i: int):
            def put(block: np.ndarray) -> None:
                with lock:
                    assert seen.setdefault(i, block) is block

            return put

        items = [(BlockRef(str(tiled), header.full, i, etag=header.etag), sink(i))
                 for i in range(12)]  # fmt: skip
        asyncio.run(fetch_blocks(items, backend=backend, coalesce_gap=0))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(call, range(4)))
    assert len(backend.ranges) == 1
    for i, block in seen.items():
        np.testing.assert_array_equal(block, rasterio_tile(tiled, i))


def test_a_waiter_fetches_itself_when_the_owner_gives_up(tiled: Path) -> None:
    header = open_geotiff(str(tiled)).header
    ref = BlockRef(str(tiled), header.full, 7, etag=header.etag)
    backend = CountingBackend(delay=5.0)  # the first request hangs
    got: list = []

    async def scenario() -> None:
        owner = asyncio.ensure_future(fetch_blocks([(ref, lambda b: None)], backend=backend))
        await asyncio.sleep(0.05)  # the owner's request is in flight
        backend.delay = 0.0
        waiter = asyncio.ensure_future(fetch_blocks([(ref, got.append)], backend=backend))
        await asyncio.sleep(0.05)
        assert not waiter.done() and len(backend.ranges) == 1  # waiting on the owner
        owner.cancel()
        stats = await asyncio.wait_for(waiter, 5)
        assert (stats.requests, stats.decoded) == (1, 1)

    run_sync(scenario())
    assert len(backend.ranges) == 2
    np.testing.assert_array_equal(got[0], rasterio_tile(tiled, 7))


def test_a_failed_decode_does_not_poison_the_cache(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "c.tif", noise(1, 64, 64), tiled=True, blockxsize=32,
                 blockysize=32, compress="ZSTD")  # fmt: skip
    header = open_geotiff(str(path)).header
    start = int(header.full.offsets[1])
    data = bytearray(path.read_bytes())
    data[start : start + 8] = b"\x00" * 8
    path.write_bytes(bytes(data))
    header = open_geotiff(str(path)).header  # the corrupt file's own ETag
    items = [(BlockRef(str(path), header.full, 1, etag=header.etag), lambda b: None)]
    backend = CountingBackend()
    for _ in range(2):
        with pytest.raises(TiffFormatError, match="block 1"):
            run_sync(fetch_blocks(items, backend=backend))
    cache = block_cache()
    assert cache is not None and len(cache) == 0
