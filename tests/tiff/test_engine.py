"""The block engine: dedupe, coalescing, bounded concurrency, If-Match, sparse blocks, shapes."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rasteret.errors import ObjectChangedError, TiffFormatError
from rasteret.io import Backend, run_sync
from rasteret.tiff import BlockRef, fetch_blocks, open_geotiff
from rasteret.tiff.cache import clear_block_cache
from rasteret.tiff.engine import decode_pool
from tests.geotiff import noise, write_geotiff


class CountingBackend(Backend):
    """A real local backend that records requests and how many were in flight at once."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.inflight = 0
        self.peak = 0
        self.ranges: list[tuple[int, int]] = []
        self.etags: list[str | None] = []

    async def get_range(
        self, url: str, start: int, end: int, *, etag: str | None = None
    ) -> memoryview:
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        self.ranges.append((start, end))
        self.etags.append(etag)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return await super().get_range(url, start, end, etag=etag)
        finally:
            self.inflight -= 1


@pytest.fixture
def tiled(tmp_path: Path) -> Path:
    """128x96 uint16, 3 bands pixel-interleaved, 32x32 DEFLATE tiles (4x3 tiles)."""
    return write_geotiff(tmp_path / "t.tif", noise(3, 96, 128), tile=32, compress="DEFLATE")


def collect(store: dict[int, list[np.ndarray | None]], key: int):
    def sink(block: np.ndarray | None) -> None:
        store.setdefault(key, []).append(block)

    return sink


def test_same_block_for_several_sinks_is_fetched_and_decoded_once(tiled: Path) -> None:
    tif = open_geotiff(str(tiled))
    layout = tif.header.full
    got: dict[int, list] = {}
    ref = BlockRef(str(tiled), layout, 5)
    items = [(ref, collect(got, i)) for i in range(3)]
    backend = CountingBackend()
    stats = run_sync(fetch_blocks(items, backend=backend))
    assert (stats.blocks, stats.decoded, stats.requests) == (3, 1, 1)
    assert got[0][0] is got[1][0] is got[2][0]
    with rasterio.open(tiled) as src:
        want = src.read(window=((32, 64), (32, 64)))  # block 5 = row 1, col 1
    np.testing.assert_array_equal(np.moveaxis(got[0][0], 2, 0), want)


def test_ranges_are_coalesced_by_gap(tiled: Path) -> None:
    layout = open_geotiff(str(tiled)).header.full
    # blocks 0 and 2 of the first row: block 1 lies between them in the file
    items = [(BlockRef(str(tiled), layout, i), lambda b: None) for i in (0, 2)]
    gap = int(layout.byte_counts[1])
    near = CountingBackend()
    assert run_sync(fetch_blocks(items, backend=near, coalesce_gap=gap)).requests == 1
    apart = CountingBackend()
    stats = run_sync(fetch_blocks(items, backend=apart, coalesce_gap=0))
    assert stats.requests == 2 and len(apart.ranges) == 2
    assert stats.bytes == int(layout.byte_counts[0] + layout.byte_counts[2])


def test_requests_in_flight_never_exceed_the_limit(tiled: Path) -> None:
    layout = open_geotiff(str(tiled)).header.full
    # every other block: no two ranges touch, so none are merged with a zero gap
    items = [(BlockRef(str(tiled), layout, i), lambda b: None) for i in range(0, 12, 2)]
    backend = CountingBackend(delay=0.02)
    stats = run_sync(fetch_blocks(items, backend=backend, max_concurrent=3, coalesce_gap=0))
    assert stats.requests == 6
    assert backend.peak == 3


def test_progress_counts_every_item_including_sparse(tmp_path: Path) -> None:
    data = noise(1, 64, 64)
    data[:, :32, :] = 0
    path = write_geotiff(tmp_path / "sp.tif", data, tile=32, sparse_ok=True)
    layout = open_geotiff(str(path)).header.full
    assert int(layout.byte_counts[0]) == 0 and int(layout.byte_counts[3]) > 0
    got: dict[int, list] = {}
    items = [(BlockRef(str(path), layout, i), collect(got, i)) for i in range(4)]
    seen: list[int] = []
    lock = threading.Lock()

    def progress(n: int) -> None:
        with lock:
            seen.append(n)

    stats = run_sync(fetch_blocks(items, progress=progress))
    assert sum(seen) == 4 and stats.blocks == 4 and stats.decoded == 2
    assert got[0] == [None] and got[1] == [None]
    assert got[3][0].shape == (32, 32, 1)


def test_block_shapes_follow_the_sink_contract(tmp_path: Path) -> None:
    # striped 50x45: RowsPerStrip 20 -> strips of 20, 20, 5 rows
    strips = write_geotiff(tmp_path / "s.tif", noise(2, 45, 50), blockysize=20)
    layout = open_geotiff(str(strips)).header.full
    got: dict[int, list] = {}
    items = [(BlockRef(str(strips), layout, i), collect(got, i)) for i in range(3)]
    run_sync(fetch_blocks(items))
    assert [got[i][0].shape for i in range(3)] == [(20, 50, 2), (20, 50, 2), (5, 50, 2)]
    # planar tiles: one sample per block, full tile size including padding
    planar = write_geotiff(tmp_path / "p.tif", noise(2, 45, 50), tile=32, interleave="band")
    layout = open_geotiff(str(planar)).header.full
    got = {}
    last = layout.block_index(1, 1, plane=1)
    run_sync(fetch_blocks([(BlockRef(str(planar), layout, last), collect(got, 0))]))
    block = got[0][0]
    assert block.shape == (32, 32, 1) and block.dtype.isnative
    with rasterio.open(planar) as src:
        np.testing.assert_array_equal(block[:13, :18, 0], src.read(2, window=((32, 45), (32, 50))))


def test_if_match_detects_a_replaced_file(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "e.tif", noise(1, 64, 64), tile=32)
    header = open_geotiff(str(path)).header
    assert header.etag
    items = [(BlockRef(str(path), header.full, 0, etag=header.etag), lambda b: None)]
    backend = CountingBackend()
    run_sync(fetch_blocks(items, backend=backend))
    assert backend.etags == [header.etag]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    clear_block_cache()  # a cached block is the old version's pixels; this tests the fetch
    with pytest.raises(ObjectChangedError, match=r"e\.tif"):
        run_sync(fetch_blocks(items, backend=CountingBackend()))


def test_decode_errors_name_url_and_block(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "c.tif", noise(1, 64, 64), tile=32, compress="ZSTD")
    data = bytearray(path.read_bytes())
    layout = open_geotiff(str(path)).header.full
    start = int(layout.offsets[2])
    data[start : start + 8] = b"\x00" * 8
    path.write_bytes(bytes(data))
    items = [(BlockRef(str(path), layout, i), lambda b: None) for i in range(4)]
    with pytest.raises(TiffFormatError, match=r"c\.tif: block 2 \(bytes \d+-\d+\)"):
        run_sync(fetch_blocks(items))


def test_block_index_outside_the_table(tiled: Path) -> None:
    layout = open_geotiff(str(tiled)).header.full
    with pytest.raises(TiffFormatError, match="block 99 does not exist"):
        run_sync(fetch_blocks([(BlockRef(str(tiled), layout, 99), lambda b: None)]))


def test_decode_pool_is_shared() -> None:
    assert decode_pool() is decode_pool()
