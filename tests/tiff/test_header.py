"""Header parsing: request counts, IFD structure, and clear errors for broken or hostile files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
import tifffile
from rasterio.enums import Resampling

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.io import run_sync
from rasteret.tiff import open_geotiff, parse_header_bytes, read_header
from tests.geotiff import noise, write_geotiff
from tests.tiff.compare import compare_with_rasterio


@pytest.fixture(scope="module")
def cog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GDAL COG driver output: 1100x700x3 uint16 DEFLATE, 256 tiles, overviews, internal mask."""
    folder = tmp_path_factory.mktemp("hdr-cog")
    src = write_geotiff(folder / "src.tif", noise(3, 700, 1100), tiled=True)
    mask = np.full((700, 1100), 255, "uint8")
    mask[100:300, 200:500] = 0
    with rasterio.open(src, "r+") as dst:
        dst.write_mask(mask)
    path = folder / "cog.tif"
    rasterio.shutil.copy(
        src, path, driver="COG", compress="DEFLATE", blocksize=256, overview_resampling="nearest"
    )
    return path


def test_gdal_cog_with_overviews_opens_in_one_request(cog: Path) -> None:
    tif = open_geotiff(str(cog))
    assert tif.header_requests == 1
    assert len(tif.overviews) >= 2
    assert all(m is not None for m in tif.header.masks)
    assert tif.header.size == cog.stat().st_size and tif.header.etag
    compare_with_rasterio(tif, cog, seed=1)


def test_small_prefix_grows_and_parses_the_same(cog: Path) -> None:
    full = open_geotiff(str(cog)).header
    small = run_sync(read_header(str(cog), prefix_size=256))
    assert small.header_requests > 1
    assert [(i.width, i.height) for i in small.images] == [(i.width, i.height) for i in full.images]
    for a, b in zip(small.images, full.images, strict=True):
        np.testing.assert_array_equal(a.offsets, b.offsets)
        np.testing.assert_array_equal(a.byte_counts, b.byte_counts)
    assert small.crs == full.crs and small.transform == full.transform


def test_ifds_at_the_end_cost_one_more_request(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "late.tif", noise(1, 700, 1100), tiled=True)
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], Resampling.nearest)
    assert path.stat().st_size > 4 * 64 * 1024
    tif = open_geotiff(str(path))
    assert tif.header_requests == 2
    compare_with_rasterio(tif, path, seed=2)


def test_large_tile_table_is_fetched_in_one_growth(tmp_path: Path) -> None:
    data = np.zeros((1, 2048, 2048), "uint8")
    data[0, :16, :16] = 5
    path = write_geotiff(tmp_path / "many.tif", data, tile=16, sparse_ok=True, compress="DEFLATE")
    tif = open_geotiff(str(path))
    assert len(tif.header.full.offsets) == 128 * 128
    assert tif.header_requests == 2
    compare_with_rasterio(tif, path, seed=3, masks=False)


def test_file_shorter_than_prefix(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "tiny.tif", noise(1, 4, 5))
    assert path.stat().st_size < 64 * 1024
    tif = open_geotiff(str(path))
    assert tif.header_requests == 1
    compare_with_rasterio(tif, path, seed=4)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("bigtiff", [False, True])
def test_tifffile_pages_and_byte_orders(tmp_path: Path, order: str, bigtiff: bool) -> None:
    """Another writer (tifffile): planar, big-endian, BigTIFF; pixels equal what was written."""
    data = noise(3, 70, 90, "int32")
    path = tmp_path / "tf.tif"
    tifffile.imwrite(
        path, data, byteorder=order, bigtiff=bigtiff, tile=(32, 32), planarconfig="separate",
        compression="zlib", predictor=True, photometric="minisblack",
    )  # fmt: skip
    header = parse_header_bytes(path.read_bytes(), str(path))
    assert header.full.byte_order == order and header.full.planar_configuration == 2
    np.testing.assert_array_equal(open_geotiff(str(path)).read(), data)


# --- broken files ---------------------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, bytes]:
    path = write_geotiff(tmp_path / "small.tif", noise(1, 64, 64), tile=32)
    return path, path.read_bytes()


def first_ifd(data: bytes) -> int:
    return struct.unpack("<I", data[4:8])[0]


def entry_count(data: bytes, ifd: int) -> int:
    return struct.unpack("<H", data[ifd : ifd + 2])[0]


def patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def tag_entry(path: Path, tag: str) -> tuple[int, int, str]:
    """(offset of the IFD entry, offset of the value, struct code of one value) in IFD 0."""
    with tifffile.TiffFile(path) as tf:
        t = tf.pages[0].tags[tag]
        return t.offset, t.valueoffset, {"SHORT": "<H", "LONG": "<I"}[t.dtype_name]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a TIFF"),
        (b"II*\x00", "not a TIFF"),
        (b"GIF89a" + b"\x00" * 20, "not a TIFF"),
        (b"II\x2b\x00\x04\x00\x00\x00" + b"\x00" * 8, "offset size 4"),
        (b"II*\x00\x00\x00\x00\x00", "no image"),
        (b"MM\x00*\x00\x00\x00\x04", "points into the file header"),
        (b"II*\x00\xff\xff\x00\x00", "beyond the end"),
    ],
)
def test_not_tiffs(data: bytes, message: str) -> None:
    with pytest.raises(TiffFormatError, match=message):
        parse_header_bytes(data, "bad.tif")


def test_ifd_cycle(small: tuple[Path, bytes]) -> None:
    path, data = small
    ifd = first_ifd(data)
    nxt = ifd + 2 + 12 * entry_count(data, ifd)
    with pytest.raises(TiffFormatError, match="loops"):
        parse_header_bytes(patched(data, nxt, "<I", ifd), "cycle.tif")


def test_absurd_entry_count(small: tuple[Path, bytes]) -> None:
    _, data = small
    with pytest.raises(TiffFormatError, match="claims 60000 entries"):
        parse_header_bytes(patched(data, first_ifd(data), "<H", 60000), "count.tif")


def test_absurd_value_count(small: tuple[Path, bytes]) -> None:
    path, data = small
    entry, _, _ = tag_entry(path, "TileOffsets")
    with pytest.raises(TiffFormatError, match="more than the file holds"):
        parse_header_bytes(patched(data, entry + 4, "<I", 2**31), "values.tif")


def test_truncated_file_names_the_fault(small: tuple[Path, bytes], tmp_path: Path) -> None:
    _, data = small
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[:-100])
    with pytest.raises(TiffFormatError, match=r"cut\.tif.*beyond the end of the file"):
        open_geotiff(str(cut))


def test_image_size_that_does_not_fit_the_tile_table(small: tuple[Path, bytes]) -> None:
    path, data = small
    _, at, code = tag_entry(path, "ImageWidth")
    with pytest.raises(TiffFormatError, match="TILE_OFFSETS lists 4 blocks, the image has 40"):
        parse_header_bytes(patched(data, at, code, 640), "wide.tif")


def test_decoded_size_mismatch_is_reported_with_block(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "raw.tif", noise(1, 64, 64), tile=32)
    data = path.read_bytes()
    _, table, code = tag_entry(path, "TileByteCounts")
    broken = tmp_path / "short.tif"
    # block 1 of 4 claims 1000 bytes: an uncompressed 32x32 uint16 tile needs 2048
    broken.write_bytes(patched(data, table + struct.calcsize(code), code, 1000))
    tif = open_geotiff(str(broken))
    with pytest.raises(TiffFormatError, match=r"short\.tif: block 1 .* expected 2048"):
        tif.read()
    assert tif.read(window=(0, 32, 32, 32)).shape == (1, 32, 32)  # other blocks still read


def test_corrupt_deflate_block(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "z.tif", noise(1, 64, 64), tile=32, compress="DEFLATE")
    data = bytearray(path.read_bytes())
    header = parse_header_bytes(bytes(data))
    start = int(header.full.offsets[0])
    data[start + 2 : start + 40] = b"\xff" * 38
    broken = tmp_path / "zbad.tif"
    broken.write_bytes(bytes(data))
    with pytest.raises(TiffFormatError, match=r"zbad\.tif: block 0 .*DEFLATE block could not"):
        open_geotiff(str(broken)).read()


def test_unsupported_sample_format_is_named(tmp_path: Path) -> None:
    path = tmp_path / "complex.tif"
    tifffile.imwrite(path, np.ones((8, 8), np.complex64))
    with pytest.raises(UnsupportedTiffError, match="SampleFormat 6"):
        open_geotiff(str(path))
