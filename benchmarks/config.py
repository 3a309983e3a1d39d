"""Sizes, places and dates of the synthetic benchmark data, derived from one ``scale`` number.

Standard library only: contender processes in other virtual environments import this module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / ".bench"
RESULTS_DIR = REPO / "benchmarks" / "results"
DOCS_DIR = REPO / "docs"

DATA_VERSION = 1  # bump when the generator changes so cached data is regenerated
BANDS = ("B02", "B03", "B04", "B08")
N_DATES = 24
PIXEL_M = 10.0
BLOCK = 512
BUCKET = "bench"  # nginx serves <root>/<bucket>/<key>, i.e. a path-style S3 layout
S2_COLLECTION = "synthetic-s2"
MULTIBAND_COLLECTION = "synthetic-multiband"
FIRST_DATE = dt.datetime(2024, 1, 3, 10, 30, tzinfo=dt.UTC)
REVISIT = dt.timedelta(days=15)
TILE_GAP_M = 20_000.0  # tiles of one zone are far enough apart that lon/lat bboxes never overlap


@dataclass(frozen=True)
class Tile:
    """One Sentinel-2-like grid square: a UTM zone, an upper-left corner and a date offset."""

    name: str
    epsg: int
    x0: float
    y0: float
    day_offset: int

    def dates(self) -> list[dt.datetime]:
        start = FIRST_DATE + dt.timedelta(days=self.day_offset)
        return [start + i * REVISIT for i in range(N_DATES)]


@dataclass(frozen=True)
class Layout:
    """Every size that depends on ``scale`` (1.0 = 2048 px S2-like tiles, 4096 px W5 scenes)."""

    scale: float
    s2_side: int
    w5_side: int

    @classmethod
    def for_scale(cls, scale: float) -> Layout:
        if not 0.25 <= scale <= 6:
            raise ValueError(f"--scale must be between 0.25 and 6, got {scale}")
        return cls(scale=scale, s2_side=_blocks(2048 * scale), w5_side=_blocks(4096 * scale))

    @property
    def tiles(self) -> tuple[Tile, ...]:
        width = self.s2_side * PIXEL_M
        return (
            Tile("32TMR", 32632, 399_960.0, 5_000_040.0, 0),
            Tile("32TNR", 32632, 399_960.0 + width + TILE_GAP_M, 5_000_040.0, 0),
            Tile("33TWL", 32633, 499_980.0, 5_100_000.0, 3),
        )

    @property
    def w5_tile(self) -> Tile:
        return Tile("31UFT", 32631, 600_000.0, 5_800_020.0, 0)

    @property
    def data_dir(self) -> Path:
        return BENCH_DIR / "data" / f"v{DATA_VERSION}-scale{self.scale:g}"

    @property
    def www_root(self) -> Path:
        """Root served by nginx; objects live under ``www_root/BUCKET/...``."""
        return self.data_dir / "www"

    @property
    def local_dir(self) -> Path:
        """Files read from local disk (W5), never served."""
        return self.data_dir / "local"


def _blocks(pixels: float) -> int:
    return max(2, round(pixels / BLOCK)) * BLOCK


def s2_key(tile: Tile, date: dt.datetime, band: str) -> str:
    """Object key (inside BUCKET) of one single-band S2-like COG."""
    return f"s2/{tile.name}/{date:%Y/%m/%d}/{band}.tif"


def item_id(tile: Tile, date: dt.datetime) -> str:
    return f"S2X_{tile.name}_{date:%Y%m%d}"
