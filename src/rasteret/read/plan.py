"""Turn every pixel a read needs into engine items, before the first byte is requested.

A :class:`Plan` collects *regions* (a window of one image of one file, decoded into a
pre-allocated array) and *point sets* (single pixels gathered into a value array). It then emits
one ``(BlockRef, sink)`` item per distinct block: a block used by several bands (a multi-sample
file), several AOIs or several point sets is fetched and decoded once and its sink writes every
target. Sparse blocks are never requested: a region's pixels in them get its ``fill`` value at
planning time (GDAL reads them as nodata, or 0), point sets keep their pre-filled value.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rasteret.read.grid import Window
from rasteret.tiff.engine import BlockRef, Sink
from rasteret.tiff.model import ImageLayout


@dataclass(frozen=True)
class Source:
    """One image (IFD) of one file, and the sample of it that a target wants."""

    url: str
    layout: ImageLayout
    sample: int = 0
    etag: str | None = None

    @property
    def plane(self) -> int:
        return self.sample if self.layout.planar_configuration == 2 else 0

    @property
    def sample_in_block(self) -> int:
        return 0 if self.layout.planar_configuration == 2 else self.sample


@dataclass(eq=False)
class _Op:
    """What one block writes into one target."""

    kind: str  # "region", "mask", "points" or "mask_points"
    out: np.ndarray
    sample: int
    # region / mask: destination and source slices
    dst: tuple[slice, slice] | None = None
    src: tuple[slice, slice] | None = None
    # points: positions in ``out`` and pixel offsets inside the block
    index: np.ndarray | None = None
    rows: np.ndarray | None = None
    cols: np.ndarray | None = None


@dataclass(eq=False)
class _Block:
    source: Source
    index: int
    ops: list[_Op] = field(default_factory=list)
    owners: set[Hashable] = field(default_factory=set)

    def sink(self, block: np.ndarray | None) -> None:
        if block is None:
            return
        if block.ndim == 2:
            block = block[:, :, None]
        for op in self.ops:
            if op.kind in ("points", "mask_points"):
                assert op.index is not None and op.rows is not None and op.cols is not None
                values = block[op.rows, op.cols, op.sample]
                op.out[op.index] = values != 0 if op.kind == "mask_points" else values
                continue
            assert op.dst is not None and op.src is not None
            part = block[op.src[0], op.src[1], op.sample]
            dst = op.out[op.dst]
            if part.shape != dst.shape:  # a short last strip
                h, w = part.shape
                dst = dst[:h, :w]
            if op.kind == "mask":
                np.not_equal(part, 0, out=dst)
            else:
                dst[...] = part


@dataclass(frozen=True, eq=False)
class _Split:
    """Pixels (rows, cols of an image) grouped by block: ``(block row, block col, positions,
    rows in the block, cols in the block)`` per block. Holds ``rows``/``cols`` so a cache keyed
    by their ids stays valid."""

    rows: np.ndarray
    cols: np.ndarray
    blocks: tuple[tuple[int, int, np.ndarray, np.ndarray, np.ndarray], ...]

    @classmethod
    def of(cls, rows: np.ndarray, cols: np.ndarray, lay: ImageLayout) -> _Split:
        brow = rows // lay.block_height
        bcol = cols // lay.block_width
        keys = brow * lay.blocks_across + bcol
        order = np.argsort(keys, kind="stable")
        uniq, starts = np.unique(keys[order], return_index=True)
        bounds = list(starts[1:]) + [len(order)]
        blocks = []
        for key, start, stop in zip(uniq.tolist(), starts.tolist(), bounds, strict=True):
            idx = order[start:stop]
            br, bc = divmod(int(key), lay.blocks_across)
            in_rows = rows[idx] - br * lay.block_height
            in_cols = cols[idx] - bc * lay.block_width
            blocks.append((br, bc, idx, in_rows, in_cols))
        return cls(rows, cols, tuple(blocks))


class Plan:
    """All blocks one read call needs, each with a sink that fills every target."""

    def __init__(self) -> None:
        self._blocks: dict[tuple[Any, ...], _Block] = {}
        self._splits: dict[tuple[int, ...], _Split] = {}

    def __len__(self) -> int:
        return len(self._blocks)

    def add_region(
        self,
        source: Source,
        window: Window,
        out: np.ndarray,
        *,
        owner: Hashable,
        mask: bool = False,
        fill: float | int | bool = 0,
    ) -> None:
        """Fill ``out`` (shape = window) with ``window`` of ``source`` (pixel coordinates of its
        image); every pixel of ``out`` is written (``fill`` where a block is sparse). With
        ``mask=True`` the source is a mask image and ``out`` a bool array."""
        lay = source.layout
        bw, bh = lay.block_width, lay.block_height
        r0, r1 = window.row_off, window.row_stop
        c0, c1 = window.col_off, window.col_stop
        if r0 < 0 or c0 < 0 or r1 > lay.height or c1 > lay.width:
            raise ValueError(f"window {window} is outside the {lay.width}x{lay.height} image")
        for brow in range(r0 // bh, (r1 - 1) // bh + 1):
            y0, y1 = max(r0, brow * bh), min(r1, (brow + 1) * bh)
            for bcol in range(c0 // bw, (c1 - 1) // bw + 1):
                x0, x1 = max(c0, bcol * bw), min(c1, (bcol + 1) * bw)
                dst = (slice(y0 - r0, y1 - r0), slice(x0 - c0, x1 - c0))
                block = self._block(source, lay.block_index(brow, bcol, source.plane), owner)
                if block is None:
                    out[dst] = fill
                    continue
                block.ops.append(
                    _Op(
                        "mask" if mask else "region",
                        out,
                        0 if mask else source.sample_in_block,
                        dst=dst,
                        src=(
                            slice(y0 - brow * bh, y1 - brow * bh),
                            slice(x0 - bcol * bw, x1 - bcol * bw),
                        ),
                    )
                )

    def add_points(
        self,
        source: Source,
        rows: np.ndarray,
        cols: np.ndarray,
        out: np.ndarray,
        *,
        owner: Hashable,
        mask: bool = False,
    ) -> None:
        """Write the pixel at (rows[i], cols[i]) of ``source`` into ``out[i]`` (rows/cols inside
        the image). With ``mask=True``, ``out`` is bool and gets ``pixel != 0``."""
        lay = source.layout
        for br, bc, idx, in_rows, in_cols in self._split(rows, cols, lay).blocks:
            block = self._block(source, lay.block_index(br, bc, source.plane), owner)
            if block is None:
                continue
            block.ops.append(
                _Op(
                    "mask_points" if mask else "points",
                    out,
                    0 if mask else source.sample_in_block,
                    index=idx,
                    rows=in_rows,
                    cols=in_cols,
                )
            )

    def _split(self, rows: np.ndarray, cols: np.ndarray, lay: ImageLayout) -> _Split:
        """The points grouped by block, once per (points, block grid): the dates and bands of
        one scene grid share it."""
        key = (id(rows), id(cols), lay.block_width, lay.block_height, lay.blocks_across)
        found = self._splits.get(key)
        if found is not None and found.rows is rows and found.cols is cols:
            return found
        found = self._splits[key] = _Split.of(rows, cols, lay)
        return found

    def _block(self, source: Source, index: int, owner: Hashable) -> _Block | None:
        lay = source.layout
        offset = int(lay.offsets[index])
        size = int(lay.byte_counts[index])
        if offset == 0 or size == 0:
            return None  # sparse: the pre-filled value stands
        key = (source.url, offset, size)
        block = self._blocks.get(key)
        if block is None:
            block = _Block(source, index)
            self._blocks[key] = block
        block.owners.add(owner)
        return block

    def owners(self) -> set[Hashable]:
        """Every owner (record) with at least one block to fetch."""
        found: set[Hashable] = set()
        for block in self._blocks.values():
            found |= block.owners
        return found

    def items(self, owners: Iterable[Hashable] | None = None) -> list[tuple[BlockRef, Sink]]:
        """Engine items ``(BlockRef, sink)``; only blocks of ``owners`` when given."""
        wanted = None if owners is None else set(owners)
        out: list[tuple[BlockRef, Sink]] = []
        for block in self._blocks.values():
            if wanted is not None and not (block.owners & wanted):
                continue
            src = block.source
            out.append((BlockRef(src.url, src.layout, block.index, etag=src.etag), block.sink))
        return out
