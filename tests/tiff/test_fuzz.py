"""Property tests: thousands of mutated and truncated headers of real GDAL files.

Every case must end in :class:`TiffFormatError` (or its subclass for unsupported features) or
in a read; when rasterio can read the same bytes to the same shape, the pixels must be equal.
Never another exception type, a hang (pytest-timeout guards the test, hypothesis' deadline
each case) or a crash.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from obstore.store import MemoryStore
from rasterio.io import MemoryFile
from rasterio.transform import from_origin
from rasterio.windows import Window

from rasteret.errors import TiffFormatError
from rasteret.tiff import open_geotiff

logging.getLogger("rasterio").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Base:
    name: str
    data: bytes
    order: str
    structure: tuple[tuple[int, int], ...]  # byte ranges holding IFDs and tag values


def _structure(path: Path) -> tuple[tuple[int, int], ...]:
    """Where the IFDs and their out-of-line values are, according to tifffile."""
    spans = [(0, 16)]
    with tifffile.TiffFile(path) as tf:
        entry = 20 if tf.is_bigtiff else 12
        for page in tf.pages:
            tags = list(page.tags.values())
            spans.append((page.offset, page.offset + 16 + entry * len(tags)))
            for tag in tags:
                spans.append((tag.valueoffset, tag.valueoffset + max(tag.valuebytecount, 1)))
    return tuple(spans)


def _write(path: Path, data: np.ndarray, driver: str = "GTiff", **options: object) -> Path:
    count, h, w = data.shape
    crs = options.pop("crs", "EPSG:32633")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(
            path, "w", driver=driver, width=w, height=h, count=count, dtype=data.dtype,
            crs=crs, transform=from_origin(500000, 5000000, 10, 10), **options,
        ) as dst:  # fmt: skip
            dst.write(data)
    return path


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> list[Base]:
    folder = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(11)
    files = []
    src = _write(folder / "src.tif", rng.integers(0, 900, (3, 200, 256)).astype("uint16"),
                 tiled=True, blockxsize=64, blockysize=64)  # fmt: skip
    mask = np.full((200, 256), 255, "uint8")
    mask[40:90, 50:120] = 0
    with rasterio.open(src, "r+") as dst:
        dst.write_mask(mask)
    cog = folder / "cog.tif"
    rasterio.shutil.copy(src, cog, driver="COG", compress="DEFLATE", blocksize=64,
                         predictor=2, overview_count=2)  # fmt: skip
    files.append((cog, "<"))
    striped = _write(
        folder / "striped.tif", rng.integers(-500, 500, (2, 90, 120)).astype("int16"),
        compress="LZW", interleave="band", blockysize=16, endianness="BIG", nodata=-1,
        crs="+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80",
    )  # fmt: skip
    with rasterio.open(striped, "r+") as dst:
        dst.scales = (0.5, 2.0)
        dst.set_band_description(1, "a")
    files.append((striped, ">"))
    floats = rng.normal(0, 10, (1, 100, 130)).astype("float32")
    floats[0, :5, :5] = np.nan
    files.append(
        (
            _write(
                folder / "big.tif",
                floats,
                tiled=True,
                blockxsize=32,
                blockysize=32,
                compress="ZSTD",
                predictor=3,
                bigtiff="YES",
                nodata=float("nan"),
            ),
            "<",
        )
    )
    y, x = np.mgrid[0:96, 0:128]
    rgb = np.stack([(x * 2) % 256, (y * 2) % 256, (x + y) % 256]).astype("uint8")
    files.append((_write(folder / "jpeg.tif", rgb, tiled=True, blockxsize=64, blockysize=64,
                         compress="JPEG", photometric="RGB"), "<"))  # fmt: skip
    return [Base(p.name, p.read_bytes(), order, _structure(p)) for p, order in files]


INTERESTING = (0, 1, 2, 7, 8, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**40, -1)


@st.composite
def mutations(draw: st.DrawFn, base: Base) -> bytes:
    data = bytearray(base.data)
    for _ in range(draw(st.integers(1, 6))):
        start, end = draw(st.sampled_from(base.structure))
        end = min(max(end, start + 1), len(data))
        if start >= len(data):
            continue
        at = draw(st.integers(start, end - 1))
        kind = draw(st.sampled_from(["bytes", "word", "small"]))
        if kind == "bytes":
            chunk = draw(st.binary(min_size=1, max_size=8))
        elif kind == "word":
            width = draw(st.sampled_from([2, 4, 8]))
            value = draw(st.sampled_from(INTERESTING + (len(data), len(data) - 1))) % 2 ** (
                8 * width
            )
            chunk = value.to_bytes(width, "little" if base.order == "<" else "big")
        else:
            chunk = bytes([(data[at] + draw(st.integers(1, 255))) % 256])
        data[at : at + len(chunk)] = chunk[: len(data) - at]
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return bytes(data)


def _rasterio_read(data: bytes, window, level: int | None):
    try:
        with MemoryFile(data) as mem, mem.open(overview_level=level) as src:
            return src.read(window=Window(*window))
    except Exception:  # noqa: BLE001 - GDAL refusing the file is a valid outcome
        return None


def _assert_same(tif, ours: np.ndarray, theirs: np.ndarray) -> None:
    """Exact equality, except YCbCr JPEG: rasterio's libjpeg 9 and libjpeg-turbo upsample chroma
    differently (see test_special.py), so there the bound is the one stated for that case."""
    image = tif.header.images[0]
    if image.compression == 7 and image.photometric == 6:
        diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
        assert diff.max() <= 16 and diff.mean() < 1.0
        return
    assert np.array_equal(ours, theirs, equal_nan=ours.dtype.kind == "f")


def check(data: bytes) -> None:
    store = MemoryStore()
    store.put("f.tif", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tif = open_geotiff("f.tif", store=store)
            levels = [None] + list(range(min(len(tif.overviews), 2)))
            for level in levels:
                win = (0, 0, 48, 40)
                ours = tif.read(window=win, overview_level=level)
                tif.read_masks(window=win, overview_level=level)
                theirs = _rasterio_read(data, win, level)
                if theirs is not None and theirs.shape == ours.shape:
                    if ours.dtype == np.float16:
                        ours = ours.astype(np.float32)
                    if theirs.dtype == ours.dtype:
                        _assert_same(tif, ours, theirs)
        except TiffFormatError:
            return


FUZZ = settings(
    max_examples=450,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("which", range(4))
def test_mutated_headers_fail_cleanly_or_read_correctly(bases: list[Base], which: int) -> None:
    base = bases[which]
    check(base.data)  # the unmutated file reads and agrees with rasterio

    @FUZZ
    @given(data=mutations(base))
    def run(data: bytes) -> None:
        check(data)

    run()


def test_every_truncation_of_a_cog_header(bases: list[Base]) -> None:
    data = bases[0].data
    end = max(e for _, e in bases[0].structure)
    for cut in range(0, min(end + 64, len(data))):
        check(data[:cut])
