"""W5's decode lower bound: single-threaded libdeflate decode (plus predictor undo) of every
full-resolution tile of the W5 files, divided by the number of cores.

No reader can decode these tiles faster than all cores decoding flat out with nothing else to do;
the ratio of a contender's W5 time to this bound is how much it spends on everything else.
"""

from __future__ import annotations

import os
import statistics
import time

import imagecodecs
import numpy as np
import tifffile


def _tiles(path: str) -> tuple[list[bytes], tuple[int, ...], np.dtype]:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        if page.compression != 8 or page.predictor != 2:
            raise ValueError(f"{path}: expected DEFLATE + predictor 2 tiles")
        spp = page.samplesperpixel
        shape = (page.tilelength, page.tilewidth) + ((spp,) if spp > 1 else ())
        with open(path, "rb") as fh:
            blobs = []
            for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True):
                fh.seek(offset)
                blobs.append(fh.read(count))
        return blobs, shape, page.dtype


def _decode_all(files: list[tuple[list[bytes], tuple[int, ...], np.dtype]]) -> float:
    t0 = time.perf_counter()
    for blobs, shape, dtype in files:
        for blob in blobs:
            tile = np.empty(shape, dtype)
            imagecodecs.deflate_decode(blob, out=tile.reshape(-1).view(np.uint8))
            imagecodecs.delta_decode(tile, axis=1, out=tile)
    return time.perf_counter() - t0


def decode_lower_bound(paths: list[str], repeats: int = 3) -> dict[str, float]:
    """Median single-thread decode time of all tiles, and that time divided by the cores."""
    files = [_tiles(p) for p in paths]
    single = statistics.median(_decode_all(files) for _ in range(repeats))
    cores = len(os.sched_getaffinity(0))
    return {
        "lower_bound_s": single / cores,
        "single_thread_decode_s": single,
        "cores": cores,
        "tiles": sum(len(f[0]) for f in files),
    }
