"""developmentseed async-geotiff over obstore: every file opened once, everything in one event loop.

No index: each file's header is read when it is first opened (one 32 KiB prefix, grown when
needed). Reads of one file go through ``fetch_tiles``, which lets obstore coalesce neighbouring
ranges. At most ``IN_FLIGHT`` files are worked on at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from async_geotiff import GeoTIFF, Window
from obstore.store import HTTPStore, LocalStore
from pyproj import Transformer

from benchmarks.digest import Digest

IN_FLIGHT = 64


class Opener:
    """Opens each URL or path once per run, on one store per server (or the local disk)."""

    def __init__(self) -> None:
        self._stores: dict[str, Any] = {}
        self._files: dict[str, asyncio.Task[GeoTIFF]] = {}

    def _locate(self, url: str) -> tuple[Any, str]:
        if url.startswith("/"):
            store = self._stores.setdefault("/", LocalStore("/"))
            return store, url.lstrip("/")
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        store = self._stores.get(root)
        if store is None:
            store = self._stores[root] = HTTPStore.from_url(root)
        return store, parts.path.lstrip("/")

    def open(self, url: str) -> Awaitable[GeoTIFF]:
        task = self._files.get(url)
        if task is None:
            store, path = self._locate(url)
            task = self._files[url] = asyncio.ensure_future(GeoTIFF.open(path, store=store))
        return task


def _window(geotiff: GeoTIFF, bounds: list[float]) -> Window:
    inv = ~geotiff.transform
    c0, r0 = inv * (bounds[0], bounds[3])
    c1, r1 = inv * (bounds[2], bounds[1])
    col, row = round(c0), round(r0)
    return Window(col_off=col, row_off=row, width=round(c1) - col, height=round(r1) - row)


async def _bounded(jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


def _run(jobs_factory: Callable[[Opener], list[Callable[[], Awaitable[Any]]]]) -> list[Any]:
    async def main() -> list[Any]:
        return await _bounded(jobs_factory(Opener()))

    return asyncio.run(main())


def w1(plan: dict, scratch: Path) -> Digest:
    def jobs(opener: Opener) -> list:
        async def header(f: dict) -> tuple:
            g = await opener.open(f["url"])
            dtype = np.dtype(g.dtype).name
            return (
                f["key"],
                g.width,
                g.height,
                g.tile_width,
                g.tile_height,
                dtype,
                g.crs.to_epsg(),
            )

        return [lambda f=f: header(f) for f in plan["files"]]

    digest = Digest()
    for row in _run(jobs):
        digest.add_row(*row)
    return digest


def w2(plan: dict, scratch: Path) -> Digest:
    def jobs(opener: Opener) -> list:
        async def read(key: str, url: str, bounds: list[float]) -> tuple[str, np.ndarray]:
            g = await opener.open(url)
            return key, (await g.read(window=_window(g, bounds))).data[0]

        return [
            lambda k=f"aoi{i}/{b}", u=scene["hrefs"][b], bb=aoi["bounds"]: read(k, u, bb)
            for i, aoi in enumerate(plan["aois"])
            for scene in aoi["scenes"]
            for b in plan["bands"]
        ]

    digest = Digest()
    for key, arr in _run(jobs):
        digest.add_array(key, arr)
    return digest


def w3(plan: dict, scratch: Path) -> Digest:
    def jobs(opener: Opener) -> list:
        async def sample(indices: list[int], xy: np.ndarray, scene: dict, band: str) -> tuple:
            g = await opener.open(scene["hrefs"][band])
            inv = ~g.transform
            cols, rows = inv * (xy[:, 0], xy[:, 1])
            cols, rows = np.floor(cols).astype(int), np.floor(rows).astype(int)
            tx, ty = cols // g.tile_width, rows // g.tile_height
            wanted = sorted(set(zip(tx.tolist(), ty.tolist(), strict=True)))
            tiles = await g.fetch_tiles(wanted)
            data = {(t.x, t.y): t.array.data[0] for t in tiles}
            values = [
                data[(x, y)][r - y * g.tile_height, c - x * g.tile_width]
                for c, r, x, y in zip(cols, rows, tx, ty, strict=True)
            ]
            return indices, scene["date"], band, values

        out = []
        for group in plan["groups"]:
            lonlat = np.array([plan["points_lonlat"][i] for i in group["point_indices"]])
            to_utm = Transformer.from_crs(4326, group["tile"]["epsg"], always_xy=True)
            xy = np.column_stack(to_utm.transform(lonlat[:, 0], lonlat[:, 1]))
            for scene in group["scenes"]:
                for b in plan["bands"]:
                    out.append(
                        lambda ix=group["point_indices"], p=xy, s=scene, b=b: sample(ix, p, s, b)
                    )
        return out

    def rows(d: Digest, samples: list[tuple]) -> None:
        for indices, date, band, values in samples:
            for i, v in zip(indices, values, strict=True):
                d.add_row(i, date, band, int(v))

    digest = Digest()
    samples = _run(jobs)
    digest.defer(lambda d: rows(d, samples))
    return digest


def w4(plan: dict, scratch: Path) -> Digest:
    """One chip after another, each chip's 32 windows read concurrently; files opened once."""
    files = [(scene["hrefs"][b], b) for scene in plan["scenes"] for b in plan["bands"]]

    async def main() -> list:
        opener = Opener()

        async def read(url: str, band: str, bounds: list[float]) -> tuple[str, np.ndarray]:
            g = await opener.open(url)
            return band, (await g.read(window=_window(g, bounds))).data[0]

        out = []
        for i, chip in enumerate(plan["chips"]):
            arrays = await asyncio.gather(*(read(u, b, chip["bounds"]) for u, b in files))
            out += [(f"chip{i}/{band}", arr) for band, arr in arrays]
        return out

    digest = Digest()
    for key, arr in asyncio.run(main()):
        digest.add_array(key, arr)
    return digest


def w5(plan: dict, scratch: Path) -> Digest:
    files = [(f"single/{b}", p, (b,)) for b, p in plan["single"]["paths"].items()]
    files.append(("multiband", plan["multiband"]["path"], tuple(plan["bands"])))

    def jobs(opener: Opener) -> list:
        async def full(key: str, path: str, bands: tuple[str, ...]) -> list:
            data = (await (await opener.open(path)).read()).data
            if len(bands) == 1:
                return [(key, data[0])]
            return [(f"{key}/{b}", data[k]) for k, b in enumerate(bands)]

        return [lambda f=f: full(*f) for f in files]

    digest = Digest()
    for out in _run(jobs):
        for key, arr in out:
            digest.add_array(key, arr)
    return digest


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}


def skip_reason(workload: str) -> str | None:
    return None
