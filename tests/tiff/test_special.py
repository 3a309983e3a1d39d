"""Files outside the pairwise matrix: half floats, 1-bit, YCbCr JPEG, alpha, rotation, metadata,
overview order, many bands, window forms, JPEG-XL, and argument errors."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.transform import Affine, from_origin
from rasterio.windows import Window

from rasteret.errors import BandNotFoundError, ReadArgumentError, TiffFormatError
from rasteret.tiff import decode_block, open_geotiff
from tests.tiff.compare import assert_same_pixels, compare_with_rasterio

W, H = 300, 200


def smooth(count: int, dtype: str = "uint8", h: int = H, w: int = W) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    bands = [
        128 + 60 * np.sin(x / (17.0 + 5 * b)) + 50 * np.cos(y / (23.0 + 3 * b))
        for b in range(count)
    ]
    return np.stack(bands).clip(0, 255).astype(dtype)


def noisy(count: int, dtype: str, seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 1000, size=(count, h, w))).astype(dtype)


def write(path: Path, data: np.ndarray, **options: Any) -> Path:
    count, h, w = data.shape
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": count,
        "dtype": options.pop("dtype", data.dtype),
        "crs": options.pop("crs", "EPSG:32633"),
        "transform": options.pop("transform", from_origin(600000, 5000000, 10, 10)),
    }
    tags = options.pop("tags", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", **profile, **options) as dst:
            if tags:
                dst.update_tags(**tags)
            dst.write(data)
    return path


@pytest.mark.parametrize("endian", ["LITTLE", "BIG"])
@pytest.mark.parametrize("predictor", [1, 3])
def test_float16_samples(tmp_path: Path, endian: str, predictor: int) -> None:
    data = noisy(2, "float32") / 7
    data[0, 5, 5] = np.nan
    path = write(
        tmp_path / "f16.tif",
        data,
        nbits=16,
        compress="DEFLATE",
        predictor=predictor,
        tiled=True,
        blockxsize=128,
        blockysize=128,
        endianness=endian,
    )
    tif = open_geotiff(str(path))
    assert tif.dtype == np.float16  # kept compact; values equal GDAL's float32 promotion
    compare_with_rasterio(tif, path, seed=3)


@pytest.mark.parametrize("tiled", [False, True])
def test_one_bit_samples(tmp_path: Path, tiled: bool) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 2, size=(1, H, W)).astype("uint8")
    extra = {"tiled": True, "blockxsize": 64, "blockysize": 64} if tiled else {}
    path = write(tmp_path / "bits.tif", data, nbits=1, compress="DEFLATE", **extra)
    compare_with_rasterio(open_geotiff(str(path)), path, seed=4)


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint64", "int64", "int8"])
@pytest.mark.parametrize("endian", ["LITTLE", "BIG"])
def test_horizontal_predictor_on_every_width(tmp_path: Path, dtype: str, endian: str) -> None:
    data = noisy(3, dtype)
    path = write(
        tmp_path / "p2.tif",
        data,
        compress="ZSTD",
        predictor=2,
        interleave="pixel",
        endianness=endian,
        tiled=True,
        blockxsize=128,
        blockysize=128,
    )
    compare_with_rasterio(open_geotiff(str(path)), path, seed=5)


def jpeg_stream(tables: bytes | None, tile: bytes) -> bytes:
    """A whole JPEG from TIFF's abbreviated tile and its JPEGTables."""
    return tile if not tables else tables[:-2] + tile[2:]


@pytest.mark.parametrize("driver", ["GTiff", "COG"])
def test_ycbcr_jpeg_decodes_to_rgb(tmp_path: Path, driver: str) -> None:
    """YCbCr JPEG comes out as RGB like rasterio's. Chroma upsampling is decoder-specific: the
    rasterio wheel's IJG libjpeg 9 upsamples in the DCT domain, libjpeg-turbo (imagecodecs,
    Pillow, most GDAL builds) with a triangle filter; so blocks must equal Pillow's decode
    exactly and the image must stay within a few levels of rasterio's."""
    from PIL import Image

    data = smooth(3)
    path = tmp_path / "ycbcr.tif"
    if driver == "GTiff":
        write(path, data, compress="JPEG", photometric="YCBCR", tiled=True)
    else:
        src = write(tmp_path / "src.tif", data, tiled=True)
        with rasterio.open(src, "r+") as dst:
            mask = np.full((H, W), 255, "uint8")
            mask[20:90, 30:120] = 0
            dst.write_mask(mask)
        rasterio.shutil.copy(src, path, driver="COG", compress="JPEG", blocksize=128)
    tif = open_geotiff(str(path))
    layout = tif.header.full
    assert layout.photometric == 6 and layout.jpeg_tables
    raw = path.read_bytes()
    for i in range(len(layout.offsets)):
        tile = raw[int(layout.offsets[i]) : int(layout.offsets[i] + layout.byte_counts[i])]
        expected = np.asarray(
            Image.open(io.BytesIO(jpeg_stream(layout.jpeg_tables, tile))).convert("RGB")
        )
        np.testing.assert_array_equal(decode_block(tile, layout), expected)
    with rasterio.open(path) as ref:
        want = ref.read().astype(int)
        got = tif.read().astype(int)
        assert got.shape == want.shape
        diff = np.abs(got - want)
        assert diff.mean() < 1.0 and diff.max() <= 16, (diff.mean(), diff.max())
        assert_same_pixels(tif.read_masks(), ref.read_masks(), "masks")
        for level in range(len(ref.overviews(1))):
            with rasterio.open(path, overview_level=level) as ovr:
                assert_same_pixels(
                    tif.read_masks(overview_level=level), ovr.read_masks(), "overview masks"
                )


def test_rgb_jpeg_with_alpha_band(tmp_path: Path) -> None:
    data = smooth(4)
    data[3] = np.where(data[3] > 128, 255, 0)
    path = write(tmp_path / "rgba.tif", data, photometric="RGB", alpha="YES", tiled=True)
    tif = open_geotiff(str(path))
    assert tif.header.full.extra_samples == (2,)
    compare_with_rasterio(tif, path, seed=6)


def test_rotated_pixel_is_point_transform(tmp_path: Path) -> None:
    transform = Affine(10.0, 2.0, 1000.0, 1.5, -10.0, 5000.0)
    path = write(
        tmp_path / "rot.tif", smooth(1), transform=transform, tags={"AREA_OR_POINT": "Point"}
    )
    tif = open_geotiff(str(path))
    assert tif.header.metadata["AREA_OR_POINT"] == "Point"
    compare_with_rasterio(tif, path, seed=7)


def test_gdal_metadata_scales_offsets_descriptions(tmp_path: Path) -> None:
    path = write(tmp_path / "meta.tif", smooth(2))
    with rasterio.open(path, "r+") as dst:
        dst.scales = (0.5, 2.0)
        dst.offsets = (1.0, -3.0)
        dst.set_band_description(1, "red")
        dst.set_band_description(2, "nir")
        dst.update_tags(MISSION="test")
    tif = open_geotiff(str(path))
    with rasterio.open(path) as ref:
        assert tif.scales == ref.scales
        assert tif.offsets == ref.offsets
        assert tif.descriptions == ref.descriptions
        assert tif.header.metadata["MISSION"] == ref.tags()["MISSION"]


def test_overviews_in_gdal_order(tmp_path: Path) -> None:
    path = write(tmp_path / "ovr.tif", noisy(2, "int16"), tiled=True, compress="LZW")
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([4, 2, 8], Resampling.nearest)
    tif = open_geotiff(str(path))
    compare_with_rasterio(tif, path, seed=8)
    assert [w for w, _ in tif.overviews] == [75, 150, 38]


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_many_bands(tmp_path: Path, interleave: str) -> None:
    path = write(
        tmp_path / "many.tif", noisy(12, "int16", h=90, w=70), interleave=interleave, tiled=True,
        blockxsize=32, blockysize=32, compress="DEFLATE",
    )  # fmt: skip
    tif = open_geotiff(str(path))
    compare_with_rasterio(tif, path, seed=9)
    with rasterio.open(path) as ref:
        wanted = [5, 2, 2, 12]
        assert_same_pixels(tif.read(wanted), ref.read(wanted), "band subset")


WINDOWS = [
    Window(-5, -5, 20, 20),
    Window(295, 195, 20, 20),
    Window(300, 0, 10, 10),
    Window(-20, -20, 10, 10),
    Window(0, 0, 0, 0),
    Window(1.5, 1.5, 3, 3),
    Window(0.5, 0.5, 2.5, 2.5),
    Window(0.4, 0.6, 2.4, 2.6),
    Window(0.2, 0.2, 3.3, 3.7),
    Window(-0.5, 0, 3, 2),
    Window(10.25, 20.75, 100.5, 50.25),
    (10, 20, 30, 40),
    ((2, 5), (3, 4)),
    ((-2, None), (-3, None)),
    ((-2, 3), (0, 2)),
]


@pytest.mark.parametrize("window", WINDOWS, ids=[repr(w) for w in WINDOWS])
def test_window_forms_like_rasterio(tmp_path: Path, window: Any) -> None:
    path = write(tmp_path / "win.tif", noisy(2, "uint16"), tiled=True, blockxsize=64,
                 blockysize=64)  # fmt: skip
    tif = open_geotiff(str(path))
    with rasterio.open(path) as ref:
        rw = Window(*window) if isinstance(window, tuple) and len(window) == 4 else window
        assert_same_pixels(tif.read(window=window), ref.read(window=rw), f"{window}")
        assert_same_pixels(tif.read(1, window=window), ref.read(1, window=rw), f"{window}")


def test_masked_read_like_rasterio(tmp_path: Path) -> None:
    data = noisy(2, "int16")
    data[:, 10:20, 10:30] = -9999
    path = write(tmp_path / "nd.tif", data, nodata=-9999, tiled=True)
    tif = open_geotiff(str(path))
    with rasterio.open(path) as ref:
        want = ref.read(masked=True)
        got = tif.read(masked=True)
        np.testing.assert_array_equal(got.mask, want.mask)
        np.testing.assert_array_equal(got.data, want.data)


def test_argument_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "e.tif", noisy(2, "int16"))
    tif = open_geotiff(str(path))
    with pytest.raises(BandNotFoundError, match=r"valid: \[1, 2\]"):
        tif.read(3)
    with pytest.raises(BandNotFoundError):
        tif.read([0])
    with pytest.raises(ReadArgumentError, match="overview_level 0 does not exist"):
        tif.read(overview_level=0)
    with pytest.raises(ReadArgumentError, match="window"):
        tif.read(window="everything")
    with pytest.raises(ReadArgumentError, match="sizes >= 0"):
        tif.read(window=(0, 0, -1, 5))


def test_jpegxl_tiles_written_by_tifffile(tmp_path: Path) -> None:
    """GDAL here has no JPEG-XL codec, so the ground truth is the lossless input itself."""
    tifffile = pytest.importorskip("tifffile")
    if not imagecodecs.JPEGXL.available:
        pytest.skip("imagecodecs has no JPEG-XL")
    data = smooth(3, "uint8", h=100, w=140).transpose(1, 2, 0).copy()
    path = tmp_path / "jxl.tif"
    tifffile.imwrite(
        path, data, tile=(64, 64), photometric="rgb",
        compression="jpegxl", compressionargs={"lossless": True},
    )  # fmt: skip
    tif = open_geotiff(str(path))
    assert tif.header.full.compression in (50002, 52546)
    np.testing.assert_array_equal(tif.read(), data.transpose(2, 0, 1))


def test_unsupported_codec_is_named(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "bz.tif"
    try:
        tifffile.imwrite(path, smooth(1)[0], tile=(64, 64), compression="jpeg2000")
    except Exception:  # noqa: BLE001 - codec missing in this build
        pytest.skip("tifffile cannot write JPEG 2000 here")
    tif = open_geotiff(str(path))
    with pytest.raises(TiffFormatError, match="compression .* is not supported"):
        tif.read()


def test_async_api_inside_a_running_loop(tmp_path: Path) -> None:
    import asyncio

    from rasteret.tiff import open_geotiff_async

    path = write(tmp_path / "a.tif", noisy(2, "int32"), tiled=True, blockxsize=64,
                 blockysize=64)  # fmt: skip

    async def main() -> tuple[np.ndarray, np.ndarray]:
        tif = await open_geotiff_async(str(path))
        return await tif.read_async(2, window=(5, 7, 100, 80)), await tif.read_masks_async()

    data, masks = asyncio.run(main())
    with rasterio.open(path) as ref:
        assert_same_pixels(data, ref.read(2, window=Window(5, 7, 100, 80)), "async read")
        assert_same_pixels(masks, ref.read_masks(), "async masks")
