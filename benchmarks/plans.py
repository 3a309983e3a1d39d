"""What each workload reads: AOIs, points, chips and files, fixed by seeds so every contender and
every run reads exactly the same pixels.

AOIs and chips are pixel-aligned rectangles in the scene's own UTM CRS, and points sit on pixel
centres, so that window and point semantics cannot differ between libraries: any disagreement
in the checksums is a real difference in the pixels returned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.config import BANDS, BUCKET, PIXEL_M, S2_COLLECTION, Layout, Tile, item_id, s2_key

W2_BANDS = ("B04", "B08")
W3_BANDS = ("B04", "B08")
W3_POINTS = 1000
W3_CLUSTERS_PER_TILE = 7  # sample sites: clusters of points ~400 m across, like field surveys
W3_SPREAD_PX = 20
W4_CHIPS = 64
W4_CHIP = 256
W4_DATES = 8
W1_SCENES = 50
# AOI tile index per AOI: two in the first tile, one in the second, two in the other UTM zone.
W2_AOI_TILES = (0, 0, 1, 2, 2)


def _url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/{BUCKET}/{key}"


def _scenes(tile: Tile, base_url: str, bands: tuple[str, ...], n: int | None = None) -> list[dict]:
    dates = tile.dates()[:n] if n else tile.dates()
    return [
        {
            "id": item_id(tile, d),
            "datetime": d.isoformat(),
            "date": d.strftime("%Y-%m-%d"),
            "hrefs": {b: _url(base_url, s2_key(tile, d, b)) for b in bands},
        }
        for d in dates
    ]


def _bounds(tile: Tile, col: int, row: int, width: int, height: int) -> list[float]:
    """[minx, miny, maxx, maxy] in the tile's CRS of a pixel window."""
    return [
        tile.x0 + col * PIXEL_M,
        tile.y0 - (row + height) * PIXEL_M,
        tile.x0 + (col + width) * PIXEL_M,
        tile.y0 - row * PIXEL_M,
    ]


def _tile_info(tile: Tile, side: int) -> dict[str, Any]:
    return {"name": tile.name, "epsg": tile.epsg, "x0": tile.x0, "y0": tile.y0, "side": side}


def w1_plan(layout: Layout, items: list[dict], base_url: str, catalog: str) -> dict[str, Any]:
    chosen = items[:W1_SCENES]
    return {
        "workload": "W1",
        "catalog": catalog,
        "collection": S2_COLLECTION,
        "bands": list(BANDS),
        "date_range": [
            chosen[0]["properties"]["datetime"][:10],
            chosen[-1]["properties"]["datetime"][:10],
        ],
        "files": [
            {"key": it["assets"][b]["href"], "url": _url(base_url, it["assets"][b]["href"])}
            for it in chosen
            for b in BANDS
        ],
    }


def w2_plan(layout: Layout, base_url: str) -> dict[str, Any]:
    rng = np.random.default_rng(2)
    aois = []
    for tile_index in W2_AOI_TILES:
        tile = layout.tiles[tile_index]
        w, h = (int(v) for v in rng.integers(40, 121, size=2))
        col = int(rng.integers(50, layout.s2_side - w - 50))
        row = int(rng.integers(50, layout.s2_side - h - 50))
        aois.append(
            {
                "tile": _tile_info(tile, layout.s2_side),
                "window": [col, row, w, h],
                "bounds": _bounds(tile, col, row, w, h),
                "scenes": _scenes(tile, base_url, W2_BANDS),
            }
        )
    return {"workload": "W2", "bands": list(W2_BANDS), "aois": aois}


def w3_plan(layout: Layout, base_url: str) -> dict[str, Any]:
    from pyproj import Transformer

    rng = np.random.default_rng(3)
    per_tile = np.array_split(np.arange(W3_POINTS), len(layout.tiles))
    points: list[list[float]] = [[0.0, 0.0]] * W3_POINTS
    groups = []
    for tile, idx in zip(layout.tiles, per_tile, strict=True):
        centres = rng.integers(150, layout.s2_side - 150, size=(W3_CLUSTERS_PER_TILE, 2))
        site = centres[rng.integers(0, W3_CLUSTERS_PER_TILE, size=len(idx))]
        offsets = np.rint(rng.normal(0.0, W3_SPREAD_PX, size=(len(idx), 2))).astype(int)
        cols, rows = np.clip(site + offsets, 10, layout.s2_side - 11).T
        x = tile.x0 + (cols + 0.5) * PIXEL_M
        y = tile.y0 - (rows + 0.5) * PIXEL_M
        lon, lat = Transformer.from_crs(tile.epsg, 4326, always_xy=True).transform(x, y)
        for i, a, b in zip(idx, lon, lat, strict=True):
            points[int(i)] = [float(a), float(b)]
        groups.append(
            {
                "tile": _tile_info(tile, layout.s2_side),
                "point_indices": [int(i) for i in idx],
                "pixels": [[int(c), int(r)] for c, r in zip(cols, rows, strict=True)],
                "scenes": _scenes(tile, base_url, W3_BANDS),
            }
        )
    return {"workload": "W3", "bands": list(W3_BANDS), "points_lonlat": points, "groups": groups}


def w4_plan(layout: Layout, base_url: str) -> dict[str, Any]:
    rng = np.random.default_rng(4)
    tile = layout.tiles[0]
    chips = []
    for _ in range(W4_CHIPS):
        col, row = (int(v) for v in rng.integers(0, layout.s2_side - W4_CHIP + 1, size=2))
        chips.append(
            {
                "window": [col, row, W4_CHIP, W4_CHIP],
                "bounds": _bounds(tile, col, row, W4_CHIP, W4_CHIP),
            }
        )
    return {
        "workload": "W4",
        "bands": list(BANDS),
        "tile": _tile_info(tile, layout.s2_side),
        "res": PIXEL_M,
        "chips": chips,
        "scenes": _scenes(tile, base_url, BANDS, W4_DATES),
    }


def w5_plan(layout: Layout, w5_items: dict[str, list[dict]]) -> dict[str, Any]:
    tile = layout.w5_tile
    single = w5_items["single"][0]
    multi = w5_items["multiband"][0]
    return {
        "workload": "W5",
        "bands": list(BANDS),
        "tile": _tile_info(tile, layout.w5_side),
        "bounds": _bounds(tile, 0, 0, layout.w5_side, layout.w5_side),
        "single": {"id": single["id"], "paths": {b: single["assets"][b]["href"] for b in BANDS}},
        "multiband": {"id": multi["id"], "path": multi["assets"]["data"]["href"]},
    }
