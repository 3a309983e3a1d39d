"""The test matrix: GeoTIFFs written by rasterio/GDAL covering every value of each axis, pairwise.

:func:`pairwise_cases` builds an all-pairs covering array greedily (every pair of values of two
axes appears in at least one file, when some valid file can hold it); :func:`write_case` writes
one file with rasterio. The data written is the test's own (seeded random numbers), and the
ground truth for reads is rasterio reading the file back, never the code under test.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

AXES: dict[str, tuple[Any, ...]] = {
    "codec": (
        "NONE",
        "LZW",
        "DEFLATE",
        "PACKBITS",
        "LZMA",
        "ZSTD",
        "JPEG",
        "WEBP",
        "LERC",
        "LERC_DEFLATE",
        "LERC_ZSTD",
    ),
    "dtype": (
        "uint8",
        "int8",
        "uint16",
        "int16",
        "uint32",
        "int32",
        "uint64",
        "int64",
        "float32",
        "float64",
    ),
    "predictor": (1, 2, 3),
    "interleave": ("pixel", "band"),
    "blocks": (256, 512, 1024, "strip", "strip7"),
    "size": ((300, 200), (512, 512), (1100, 700), (257, 131)),
    "count": (1, 3, 4),
    "bigtiff": (False, True),
    "endian": ("little", "big"),
    "nodata": (None, "int", "nan"),
    "mask": (False, True),
    "sparse": (False, True),
    "crs": ("epsg", "custom"),
    "point": (False, True),
    "overviews": (None, "internal", "cog"),
}
LOSSY = frozenset({"JPEG", "WEBP"})
PREDICTED = frozenset({"LZW", "DEFLATE", "ZSTD"})
CUSTOM_CRS = (
    "+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +x_0=1000 +y_0=-500 +datum=NAD83 +units=m"
)


def valid(case: Mapping[str, Any]) -> bool:
    """False when a (possibly partial) case combines values no GDAL file can hold together."""

    def has(*names: str) -> bool:
        return all(n in case for n in names)

    codec = case.get("codec")
    dtype = case.get("dtype")
    if codec == "JPEG":
        if has("dtype") and dtype != "uint8" or case.get("count", 1) not in (1, 3):
            return False
        if case.get("blocks") == "strip7":  # JPEG strips are whole 8x8 MCUs
            return False
    if codec == "WEBP":
        if has("dtype") and dtype != "uint8" or case.get("count", 3) not in (3, 4):
            return False
        if case.get("interleave", "pixel") != "pixel":
            return False
    if codec in LOSSY and case.get("nodata") == "int":
        return False  # lossy codecs blur the nodata value: mask tests would be meaningless
    if codec and codec.startswith("LERC") and dtype in ("uint64", "int64"):
        return False
    if has("codec", "predictor") and codec not in PREDICTED and case["predictor"] != 1:
        return False
    if has("predictor", "dtype") and case["predictor"] == 3 and not dtype.startswith("float"):
        return False
    if has("nodata", "dtype") and case["nodata"] == "nan" and not dtype.startswith("float"):
        return False
    if has("interleave", "count") and case["interleave"] == "band" and case["count"] == 1:
        return False
    if case.get("overviews") == "cog":
        if str(case.get("blocks", 256)).startswith("strip"):
            return False
        if case.get("endian", "little") != "little" or case.get("interleave", "pixel") != "pixel":
            return False
    return True


def pairwise_cases(axes: Mapping[str, tuple[Any, ...]] = AXES) -> list[dict[str, Any]]:
    """A small list of valid cases covering every feasible pair of axis values."""
    names = list(axes)
    uncovered = {
        ((a, va), (b, vb))
        for a, b in itertools.combinations(names, 2)
        for va in axes[a]
        for vb in axes[b]
        if valid({a: va, b: vb})
    }
    cases: list[dict[str, Any]] = []
    order = sorted(uncovered, key=repr)
    for pair in order:
        if pair not in uncovered:
            continue
        case = _complete(dict(pair), names, axes, uncovered)
        if case is None:
            uncovered.discard(pair)
            continue
        for a, b in itertools.combinations(names, 2):
            uncovered.discard(((a, case[a]), (b, case[b])))
        cases.append(case)
    return cases


def _complete(
    case: dict[str, Any],
    names: list[str],
    axes: Mapping[str, tuple[Any, ...]],
    uncovered: set[tuple[tuple[str, Any], tuple[str, Any]]],
) -> dict[str, Any] | None:
    if not valid(case):
        return None
    for name in names:
        if name in case:
            continue
        best, best_gain = None, -1
        for value in axes[name]:
            trial = {**case, name: value}
            if not valid(trial):
                continue
            gain = sum(
                1
                for other, ov in case.items()
                if _pair(names, (name, value), (other, ov)) in uncovered
            )
            if gain > best_gain:
                best, best_gain = value, gain
        if best_gain < 0:
            return None
        case[name] = best
    return case if valid(case) else None


def _pair(names: list[str], x: tuple[str, Any], y: tuple[str, Any]) -> tuple:
    return (x, y) if names.index(x[0]) < names.index(y[0]) else (y, x)


@dataclass(frozen=True)
class Written:
    """A file of the matrix and how it was made."""

    path: Path
    case: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name


def case_id(case: Mapping[str, Any]) -> str:
    w, h = case["size"]
    parts = [
        case["codec"],
        case["dtype"],
        f"p{case['predictor']}",
        case["interleave"],
        f"b{case['blocks']}",
        f"{w}x{h}",
        f"c{case['count']}",
        "big" if case["bigtiff"] else "classic",
        case["endian"],
        f"nd-{case['nodata']}",
        "mask" if case["mask"] else "nomask",
        "sparse" if case["sparse"] else "dense",
        case["crs"],
        "point" if case["point"] else "area",
        f"ovr-{case['overviews']}",
    ]
    return "_".join(str(p) for p in parts)


def nodata_value(case: Mapping[str, Any]) -> float | None:
    if case["nodata"] is None:
        return None
    if case["nodata"] == "nan":
        return float("nan")
    return -99.0 if np.dtype(case["dtype"]).kind in "if" else 7.0


def make_data(case: Mapping[str, Any], seed: int) -> np.ndarray:
    """Seeded pixels: smooth for lossy codecs, noisy otherwise; nodata and sparse regions set."""
    w, h = case["size"]
    count, dtype = case["count"], np.dtype(case["dtype"])
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    bands = []
    for b in range(count):
        if case["codec"] in LOSSY:
            base = 128 + 60 * np.sin(x / (17.0 + 3 * b)) + 50 * np.cos(y / (23.0 + b))
            bands.append(np.clip(base, 0, 255))
        else:
            base = (x * (b + 1) + 3 * y) % 200 + rng.integers(0, 50, size=(h, w))
            bands.append(base)
    arr = np.stack(bands).astype("float64")
    if dtype.kind == "i":
        arr -= 100
    if dtype.kind == "f":
        arr = arr * 0.37 - 20.0
    arr = arr.astype(dtype)
    nodata = nodata_value(case)
    if nodata is not None:
        arr[:, (y % 11 == 0) & (x % 13 == 0)] = dtype.type(nodata)
    if case["sparse"]:
        rows = _block_rows(case)
        arr[:, :rows, :] = dtype.type(nodata) if nodata is not None else 0
    return arr


def _block_rows(case: Mapping[str, Any]) -> int:
    blocks = case["blocks"]
    h = case["size"][1]
    if blocks == "strip7":
        return min(14, h)
    if blocks == "strip":
        return min(h, 64)
    return min(int(blocks), h)


def make_mask(case: Mapping[str, Any]) -> np.ndarray:
    w, h = case["size"]
    y, x = np.mgrid[0:h, 0:w]
    inside = (x - w / 3) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 4) ** 2
    return np.where(inside, 0, 255).astype("uint8")


def creation_options(case: Mapping[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {"compress": case["codec"]}
    if case["predictor"] != 1:
        opts["predictor"] = case["predictor"]
    blocks = case["blocks"]
    cog = case["overviews"] == "cog"
    if isinstance(blocks, int):
        if cog:
            opts["blocksize"] = blocks
        else:
            opts.update(tiled=True, blockxsize=blocks, blockysize=blocks)
    elif blocks == "strip7":
        opts["blockysize"] = 7
    elif blocks == "strip":
        opts["blockysize"] = 64
    if case["count"] > 1 and not cog:
        opts["interleave"] = case["interleave"]
    if case["codec"] == "JPEG" and case["count"] == 3 and not cog:
        opts["photometric"] = "RGB"
    if case["bigtiff"]:
        opts["bigtiff"] = "YES"
    if case["endian"] == "big":
        opts["endianness"] = "BIG"
    if case["sparse"]:
        opts["sparse_ok"] = "TRUE"
    if case["codec"] == "WEBP":
        opts["quality"] = 90
    return opts


def write_case(case: Mapping[str, Any], path: Path, seed: int) -> Written:
    """Write ``case`` to ``path`` with rasterio (COG files via a temporary GTiff)."""
    import rasterio
    import rasterio.shutil
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    w, h = case["size"]
    crs = "EPSG:32633" if case["crs"] == "epsg" else CUSTOM_CRS
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": case["count"],
        "dtype": case["dtype"],
        "crs": crs,
        "transform": from_origin(500000.0 + seed, 4200000.0, 10.0, 10.0),
        "nodata": nodata_value(case),
    }
    cog = case["overviews"] == "cog"
    target = path.with_suffix(".src.tif") if cog else path
    options = creation_options(case)
    gtiff_options = {k: v for k, v in options.items() if k not in ("blocksize",)}
    if cog and "blocksize" in options:
        gtiff_options.update(tiled=True, blockxsize=options["blocksize"])
        gtiff_options["blockysize"] = options["blocksize"]
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(target, "w", **profile, **gtiff_options) as dst:
            if case["point"]:
                dst.update_tags(AREA_OR_POINT="Point")
            dst.write(make_data(case, seed))
            if case["mask"]:
                dst.write_mask(make_mask(case))
            if case["overviews"] == "internal":
                dst.build_overviews([2, 4], Resampling.nearest)
        if cog:
            cog_options = {
                k: v for k, v in options.items() if k not in ("endianness", "interleave")
            }
            rasterio.shutil.copy(
                target,
                path,
                driver="COG",
                overview_resampling="nearest",
                overviews="AUTO",
                overview_count=2,
                **cog_options,
            )
            target.unlink()
    return Written(path, dict(case))
