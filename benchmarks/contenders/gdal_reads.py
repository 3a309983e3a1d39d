"""The workloads written the way a rasterio user writes them, one function per file.

The tuned and the sequential contender share this code; they differ only in GDAL settings and in
``map_files``: a thread pool over files, or a plain loop (one file after another).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.warp import transform as warp_transform
from rasterio.windows import from_bounds

from benchmarks.digest import Digest

MapFiles = Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]


def _window(src: rasterio.io.DatasetReader, bounds: list[float]) -> rasterio.windows.Window:
    return from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()


def _point_rows(samples: list[tuple], digest: Digest) -> None:
    """(point, date, band, value) rows from per-file sample lists (run after timing)."""
    for indices, date, band, values in samples:
        for i, v in zip(indices, values, strict=True):
            digest.add_row(i, date, band, int(v[0]))


def make_workloads(map_files: MapFiles) -> dict[str, Callable[[dict, Path], Digest]]:
    """The five workloads over ``map_files``."""

    def w1(plan: dict, scratch: Path) -> Digest:
        def header(f: dict) -> tuple:
            with rasterio.open(f["url"]) as src:
                th, tw = src.block_shapes[0]
                return (f["key"], src.width, src.height, tw, th, src.dtypes[0], src.crs.to_epsg())

        digest = Digest()
        for row in map_files(header, plan["files"]):
            digest.add_row(*row)
        return digest

    def w2(plan: dict, scratch: Path) -> Digest:
        tasks = [
            (i, band, scene["hrefs"][band], aoi["bounds"])
            for i, aoi in enumerate(plan["aois"])
            for scene in aoi["scenes"]
            for band in plan["bands"]
        ]

        def read(task: tuple) -> tuple[str, np.ndarray]:
            i, band, url, bounds = task
            with rasterio.open(url) as src:
                return f"aoi{i}/{band}", src.read(1, window=_window(src, bounds))

        digest = Digest()
        for key, arr in map_files(read, tasks):
            digest.add_array(key, arr)
        return digest

    def w3(plan: dict, scratch: Path) -> Digest:
        tasks = []
        for group in plan["groups"]:
            lonlat = [plan["points_lonlat"][i] for i in group["point_indices"]]
            xs, ys = warp_transform(
                "EPSG:4326", f"EPSG:{group['tile']['epsg']}", *zip(*lonlat, strict=True)
            )
            coords = list(zip(xs, ys, strict=True))
            for scene in group["scenes"]:
                for band in plan["bands"]:
                    tasks.append((group["point_indices"], coords, scene, band))

        def sample(task: tuple) -> tuple:
            indices, coords, scene, band = task
            with rasterio.open(scene["hrefs"][band]) as src:
                return indices, scene["date"], band, list(src.sample(coords, indexes=1))

        digest = Digest()
        digest.defer(partial(_point_rows, map_files(sample, tasks)))
        return digest

    def w4(plan: dict, scratch: Path) -> Digest:
        """One chip after another; file handles stay open across chips (TorchGeo caches them)."""
        files = [(scene["hrefs"][b], b) for scene in plan["scenes"] for b in plan["bands"]]
        handles: dict[str, rasterio.io.DatasetReader] = {}

        def read(task: tuple) -> tuple[str, np.ndarray]:
            (url, band), bounds = task
            src = handles.get(url) or handles.setdefault(url, rasterio.open(url))
            return band, src.read(1, window=_window(src, bounds))

        digest = Digest()
        try:
            for i, chip in enumerate(plan["chips"]):
                for band, arr in map_files(read, [(f, chip["bounds"]) for f in files]):
                    digest.add_array(f"chip{i}/{band}", arr)
        finally:
            for src in handles.values():
                src.close()
        return digest

    def w5(plan: dict, scratch: Path) -> Digest:
        files = [(f"single/{b}", p, (b,)) for b, p in plan["single"]["paths"].items()]
        files.append(("multiband", plan["multiband"]["path"], tuple(plan["bands"])))

        def full(task: tuple) -> list[tuple[str, np.ndarray]]:
            key, path, bands = task
            with rasterio.open(path) as src:
                data = src.read()
            if len(bands) == 1:
                return [(key, data[0])]
            return [(f"{key}/{b}", data[k]) for k, b in enumerate(bands)]

        digest = Digest()
        for out in map_files(full, files):
            for key, arr in out:
                digest.add_array(key, arr)
        return digest

    return {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}
