"""Plan.add_points: points grouped by block once per block grid, shared by every file on it."""

from __future__ import annotations

import numpy as np

from rasteret.read.plan import Plan, Source
from rasteret.tiff.model import ImageLayout


def _layout(size: int, block: int) -> ImageLayout:
    n = (-(-size // block)) ** 2
    return ImageLayout(
        width=size, height=size, block_width=block, block_height=block, tiled=True,
        samples_per_pixel=1, planar_configuration=1, bits_per_sample=16, sample_format=1,
        dtype="uint16", compression=1, predictor=1, photometric=1,
        offsets=np.arange(1, n + 1, dtype=np.uint64) * 4096,
        byte_counts=np.full(n, 16, dtype=np.uint64),
    )  # fmt: skip


def _serve(plan: Plan, images: dict[str, np.ndarray]) -> None:
    """Hand every planned block its pixels, cut from the named image (what a decode yields)."""
    for ref, sink in plan.items():
        lay = ref.layout
        row, col = divmod(ref.index, lay.blocks_across)
        bh, bw = lay.block_height, lay.block_width
        sink(images[ref.url][row * bh : (row + 1) * bh, col * bw : (col + 1) * bw].copy())


def test_files_on_one_grid_and_on_other_grids_get_their_own_pixels():
    rng = np.random.default_rng(0)
    size = 1000
    images = {u: rng.integers(0, 60000, (size, size), dtype=np.uint16) for u in "abc"}
    rows = rng.integers(0, size, 300)
    cols = rng.integers(0, size, 300)
    grids = {"a": _layout(size, 256), "b": _layout(size, 256), "c": _layout(size, 128)}
    plan = Plan()
    outs = {}
    for url, lay in grids.items():
        outs[url] = np.zeros(len(rows), dtype=np.uint16)
        plan.add_points(Source(url, lay), rows, cols, outs[url], owner=url)
    # a second set of points on grid "a" (other arrays, same values shuffled)
    order = rng.permutation(len(rows))
    again = np.zeros(len(rows), dtype=np.uint16)
    plan.add_points(Source("a", grids["a"]), rows[order], cols[order], again, owner="a")
    _serve(plan, images)
    for url, out in outs.items():
        np.testing.assert_array_equal(out, images[url][rows, cols])
    np.testing.assert_array_equal(again, images["a"][rows[order], cols[order]])
