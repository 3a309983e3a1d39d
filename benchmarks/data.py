"""Synthetic Sentinel-2-like COGs and their STAC items, generated once per scale under ``.bench/``.

Texture is 1/f^beta noise made with NumPy's FFT plus per-date haze and sensor noise, so DEFLATE
with predictor 2 compresses it about as well as it compresses real Sentinel-2 L2A bands
(~1.5x) and decode costs are realistic. Files are written with GDAL's COG driver (512 px tiles,
DEFLATE, predictor 2, overviews), exactly the layout of the public Sentinel-2 COGs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.config import BANDS, BLOCK, BUCKET, PIXEL_M, Layout, Tile, item_id, s2_key

# Band level, texture amplitude and seasonal swing (NIR peaks in summer, visible bands dip).
BAND_STYLE = {
    "B02": (900.0, 300.0, -0.10),
    "B03": (1100.0, 350.0, -0.08),
    "B04": (1200.0, 450.0, -0.15),
    "B08": (2600.0, 800.0, 0.35),
}
SENSOR_NOISE = 10.0
NODATA = 0


def fractal_noise(n: int, beta: float, seed: int) -> np.ndarray:
    """An ``n x n`` float32 field with power spectrum 1/f^beta, zero mean and unit variance."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    k = np.hypot(fy, fx)
    k[0, 0] = 1.0
    amp = k ** (-beta / 2)
    amp[0, 0] = 0.0
    spec = rng.standard_normal((n, n // 2 + 1)) + 1j * rng.standard_normal((n, n // 2 + 1))
    field = np.fft.irfft2(spec * amp, s=(n, n)).astype(np.float32)
    field -= field.mean()
    field /= field.std()
    return field


def _seed(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


class SceneSynth:
    """Per-tile static landscape; ``band(date_index, band)`` adds season, haze and sensor noise."""

    def __init__(self, tile_name: str, side: int) -> None:
        self.tile_name = tile_name
        self.side = side
        land = fractal_noise(side, 3.0, _seed(tile_name, "land"))
        self.base = {
            b: 0.85 * land + 0.5 * fractal_noise(side, 2.8, _seed(tile_name, b)) for b in BANDS
        }
        self._haze: tuple[int, np.ndarray] | None = None

    def haze(self, date_index: int) -> np.ndarray:
        if self._haze is None or self._haze[0] != date_index:
            h = fractal_noise(self.side, 3.5, _seed(self.tile_name, "haze", date_index))
            self._haze = (date_index, np.maximum(h - 0.3, 0.0))
        return self._haze[1]

    def band(self, date_index: int, band: str) -> np.ndarray:
        level, amp, swing = BAND_STYLE[band]
        season = 1.0 + swing * np.sin(2 * np.pi * date_index / 24)
        rng = np.random.default_rng(_seed(self.tile_name, band, date_index, "sensor"))
        value = level * season + amp * self.base[band] + 400.0 * self.haze(date_index)
        value += rng.normal(0.0, SENSOR_NOISE, value.shape).astype(np.float32)
        return np.clip(np.rint(value), 1, 10000).astype(np.uint16)


def write_cog(path: Path, data: np.ndarray, tile: Tile) -> None:
    """Write ``data`` ([H, W] or [C, H, W] uint16) as a DEFLATE + predictor 2 COG with overviews."""
    import rasterio
    from rasterio.transform import from_origin

    arr = data if data.ndim == 3 else data[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tif")
    profile = {
        "driver": "COG",
        "width": arr.shape[2],
        "height": arr.shape[1],
        "count": arr.shape[0],
        "dtype": "uint16",
        "crs": f"EPSG:{tile.epsg}",
        "transform": from_origin(tile.x0, tile.y0, PIXEL_M, PIXEL_M),
        "nodata": NODATA,
        "compress": "DEFLATE",
        "predictor": 2,
        "blocksize": BLOCK,
        "overviews": "AUTO",
        "num_threads": 1,
    }
    if arr.shape[0] > 1:
        profile["interleave"] = "pixel"
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(arr)
    os.replace(tmp, path)


def _generate_tile(layout: Layout, tile: Tile) -> int:
    synth = SceneSynth(tile.name, layout.s2_side)
    written = 0
    for i, date in enumerate(tile.dates()):
        for band in BANDS:
            path = layout.www_root / BUCKET / s2_key(tile, date, band)
            if not path.exists():
                write_cog(path, synth.band(i, band), tile)
            written += 1
    return written


def _generate_w5(layout: Layout, kind: str) -> int:
    tile = layout.w5_tile
    synth = SceneSynth(f"{tile.name}-{kind}", layout.w5_side)
    if kind == "single":
        for band in BANDS:
            path = layout.local_dir / "w5" / "single" / f"{band}.tif"
            if not path.exists():
                write_cog(path, synth.band(5, band), tile)
        return len(BANDS)
    path = layout.local_dir / "w5" / "multiband.tif"
    if not path.exists():
        write_cog(path, np.stack([synth.band(5, b) for b in BANDS]), tile)
    return 1


def _footprint(tile: Tile, side: int) -> tuple[dict[str, Any], list[float]]:
    """GeoJSON polygon and bbox in EPSG:4326 of a tile (edges densified before reprojection)."""
    from pyproj import Transformer

    t = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    w = side * PIXEL_M
    s = np.linspace(0.0, 1.0, 9)
    xs = np.concatenate([tile.x0 + s * w, np.full(9, tile.x0 + w), tile.x0 + s[::-1] * w,
                         np.full(9, tile.x0)])  # fmt: skip
    ys = np.concatenate([np.full(9, tile.y0), tile.y0 - s * w, np.full(9, tile.y0 - w),
                         tile.y0 - s[::-1] * w])  # fmt: skip
    lon, lat = t.transform(xs, ys)
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    bbox = [float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))]
    return {"type": "Polygon", "coordinates": [ring]}, bbox


def _item(
    tile: Tile, side: int, ident: str, when: dt.datetime, assets: dict[str, Any]
) -> dict[str, Any]:
    geometry, bbox = _footprint(tile, side)
    cloud = round((_seed(ident, "cc") % 1000) / 10.0, 1)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
        ],
        "id": ident,
        "bbox": bbox,
        "geometry": geometry,
        "properties": {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eo:cloud_cover": cloud,
            "proj:epsg": tile.epsg,
            "proj:code": f"EPSG:{tile.epsg}",
            "proj:shape": [side, side],
            "proj:transform": [PIXEL_M, 0.0, tile.x0, 0.0, -PIXEL_M, tile.y0],
        },
        "links": [],
        "assets": assets,
    }


def _cog_asset(href: str, **extra: Any) -> dict[str, Any]:
    return {
        "href": href,
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"],
        **extra,
    }


def s2_items(layout: Layout) -> list[dict[str, Any]]:
    """STAC items of every S2-like scene; asset hrefs are object keys inside BUCKET."""
    items = []
    for tile in layout.tiles:
        for date in tile.dates():
            assets = {b: _cog_asset(s2_key(tile, date, b)) for b in BANDS}
            items.append(_item(tile, layout.s2_side, item_id(tile, date), date, assets))
    items.sort(key=lambda it: (it["properties"]["datetime"], it["id"]))
    return items


def w5_items(layout: Layout) -> dict[str, list[dict[str, Any]]]:
    """STAC items of the local W5 scenes (absolute file paths): single-band and multi-band."""
    tile, when = layout.w5_tile, _w5_date(layout)
    single = {b: _cog_asset(str(layout.local_dir / "w5" / "single" / f"{b}.tif")) for b in BANDS}
    multi = {"data": _cog_asset(str(layout.local_dir / "w5" / "multiband.tif"))}
    return {
        "single": [_item(tile, layout.w5_side, f"W5_{tile.name}_single", when, single)],
        "multiband": [_item(tile, layout.w5_side, f"W5_{tile.name}_multiband", when, multi)],
    }


def _w5_date(layout: Layout) -> dt.datetime:
    return layout.w5_tile.dates()[5]


def manifest_path(layout: Layout) -> Path:
    return layout.data_dir / "manifest.json"


def ensure_data(layout: Layout, *, workers: int = 2, log=print) -> dict[str, Any]:
    """Generate whatever is missing (resumable; the manifest is written last) and return it."""
    mpath = manifest_path(layout)
    if mpath.exists():
        return json.loads(mpath.read_text())
    log(
        f"generating synthetic data in {layout.data_dir} (one time; "
        f"{len(layout.tiles)} tiles x 24 dates x 4 bands at {layout.s2_side} px, "
        f"W5 scenes at {layout.w5_side} px)"
    )
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(_generate_tile, layout, t) for t in layout.tiles]
        jobs += [pool.submit(_generate_w5, layout, k) for k in ("single", "multiband")]
        files = sum(j.result() for j in jobs)
    size = sum(p.stat().st_size for p in layout.data_dir.rglob("*.tif"))
    manifest = {
        "data_version": layout.data_dir.name,
        "scale": layout.scale,
        "s2_side": layout.s2_side,
        "w5_side": layout.w5_side,
        "files": files,
        "bytes": size,
        "generated_s": round(time.perf_counter() - t0, 1),
        "s2_items": s2_items(layout),
        "w5_items": w5_items(layout),
    }
    tmp = mpath.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, mpath)
    log(f"generated {files} files, {size / 1e6:.0f} MB in {manifest['generated_s']} s")
    return manifest
