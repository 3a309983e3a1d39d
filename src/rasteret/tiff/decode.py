"""Decode one TIFF block (tile or strip) into an array, with imagecodecs (GIL released).

``decode_block(data, layout)`` returns ``(rows, cols, samples_in_block)`` in native byte order:
``samples_in_block`` is SamplesPerPixel for chunky images and 1 for planar ones; ``rows`` is
the tile height (padding included) for tiles and the strip's real height for strips.
Codecs: none, LZW, DEFLATE (libdeflate), PackBits, LZMA, ZSTD, JPEG (JPEGTables; YCbCr is
converted to RGB like GDAL does), WebP, LERC (plain, +DEFLATE, +ZSTD), JPEG-XL. Predictors:
2 (horizontal differencing, any integer width) and 3 (floating point). 1-bit images (GDAL's
masks) are unpacked to one byte per pixel. Any decoder failure or a decoded size that does not
match the layout raises :class:`~rasteret.errors.TiffFormatError`.

Stream codecs decode into ``scratch`` when the caller passes one large enough (a buffer it
reuses block after block: fresh memory costs a page fault per 4 KiB, about a quarter of a
DEFLATE decode); the result then lives in that buffer until its next use.
"""

from __future__ import annotations

from collections.abc import Callable

import imagecodecs
import numpy as np

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.tiff.model import ImageLayout
from rasteret.tiff.tags import PHOTOMETRIC_RGB, PHOTOMETRIC_YCBCR, Compression

Bytes = bytes | bytearray | memoryview

# Decoders that produce a flat byte stream; ``out`` bounds memory for hostile input.
_STREAM_DECODERS: dict[int, Callable[..., object]] = {
    Compression.LZW: imagecodecs.lzw_decode,
    Compression.ADOBE_DEFLATE: imagecodecs.deflate_decode,
    Compression.DEFLATE: imagecodecs.deflate_decode,
    Compression.PACKBITS: imagecodecs.packbits_decode,
    Compression.LZMA: imagecodecs.lzma_decode,
    Compression.ZSTD: imagecodecs.zstd_decode,
}
_IMAGE_CODECS = frozenset(
    {
        Compression.JPEG,
        Compression.WEBP,
        Compression.LERC,
        Compression.JPEGXL,
        Compression.JPEGXL_DNG,
    }
)
SUPPORTED_COMPRESSIONS = frozenset({Compression.NONE, *_STREAM_DECODERS, *_IMAGE_CODECS})
# LercParameters[1]: compression applied on top of the LERC blob
_LERC_OUTER = {1: imagecodecs.deflate_decode, 2: imagecodecs.zstd_decode}


def check_supported(layout: ImageLayout, source: str = "") -> None:
    """Raise :class:`UnsupportedTiffError` before any I/O if ``layout`` cannot be decoded."""
    where = f"{source}: " if source else ""
    if layout.compression not in SUPPORTED_COMPRESSIONS:
        name = _codec_name(layout.compression)
        raise UnsupportedTiffError(
            f"{where}compression {name} is not supported; supported: "
            + ", ".join(sorted(_codec_name(c) for c in SUPPORTED_COMPRESSIONS))
        )
    if layout.predictor not in (1, 2, 3):
        raise UnsupportedTiffError(f"{where}predictor {layout.predictor} is not supported")
    if layout.predictor == 3 and np.dtype(layout.dtype).kind != "f":
        raise UnsupportedTiffError(f"{where}predictor 3 needs floating-point samples")
    if layout.predictor != 1 and layout.bits_per_sample == 1:
        raise UnsupportedTiffError(f"{where}predictors on 1-bit samples are not supported")
    if layout.photometric == PHOTOMETRIC_YCBCR and layout.compression != Compression.JPEG:
        raise UnsupportedTiffError(f"{where}YCbCr samples are only supported with JPEG")
    if layout.compression == Compression.JPEG and layout.bits_per_sample != 8:
        raise UnsupportedTiffError(f"{where}only 8-bit JPEG is supported")
    if layout.compression == Compression.LERC:
        outer = (layout.lerc_parameters or (4, 0))[1:2] or (0,)
        if outer[0] not in (0, *_LERC_OUTER):
            raise UnsupportedTiffError(f"{where}LERC with outer compression {outer[0]}")


def _codec_name(code: int) -> str:
    try:
        return Compression(code).name
    except ValueError:
        return str(code)


def block_rows(layout: ImageLayout, index: int) -> int:
    """Rows a decoded block has: tile height for tiles, the strip's real height for strips."""
    if layout.tiled:
        return layout.block_height
    row = (index % layout.blocks_per_plane) // layout.blocks_across
    return min(layout.block_height, layout.height - row * layout.block_height)


def decode_block(
    data: Bytes,
    layout: ImageLayout,
    *,
    index: int | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Decode one block; with ``index`` a strip's row count is checked exactly. ``scratch``
    (uint8, reused by the caller) may hold the result instead of new memory."""
    check_supported(layout)
    try:
        return _decode(data, layout, index, scratch)
    except (TiffFormatError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any codec failure means a corrupt block
        raise TiffFormatError(
            f"{_codec_name(layout.compression)} block could not be decoded: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def block_nbytes(layout: ImageLayout) -> int:
    """Bytes of one whole decoded block of a stream codec (before unpacking 1-bit samples)."""
    spp = layout.samples_per_pixel if layout.planar_configuration == 1 else 1
    return -(-layout.block_width * spp * layout.bits_per_sample // 8) * layout.block_height


def _decode(
    data: Bytes, layout: ImageLayout, index: int | None, scratch: np.ndarray | None
) -> np.ndarray:
    spp = layout.samples_per_pixel if layout.planar_configuration == 1 else 1
    cols = layout.block_width
    rows = block_rows(layout, index) if index is not None else layout.block_height
    codec = layout.compression
    if codec in _IMAGE_CODECS:
        arr = _decode_image(data, layout, spp)
        return _check_image(arr, layout, rows, cols, spp, index)
    itemsize = np.dtype(layout.dtype).itemsize
    row_bytes = -(-cols * spp * layout.bits_per_sample // 8)
    full = row_bytes * layout.block_height
    if codec == Compression.NONE:
        raw = np.frombuffer(data, dtype=np.uint8)
    else:
        # Decoding into a buffer of the block's size bounds memory for hostile input (pages
        # are only touched as they are written); more output than that is an error.
        out = scratch[:full] if scratch is not None and scratch.nbytes >= full else None
        if out is None:
            out = np.empty(full, np.uint8)
        raw = np.frombuffer(_STREAM_DECODERS[codec](data, out=out), dtype=np.uint8)
    if layout.tiled or index is not None:
        if len(raw) < rows * row_bytes:
            raise TiffFormatError(
                f"block decodes to {len(raw)} bytes, expected {rows * row_bytes} "
                f"({rows}x{cols}x{spp} {layout.dtype})"
            )
    else:
        rows = min(len(raw) // row_bytes, layout.block_height)
        if rows == 0:
            raise TiffFormatError(f"strip decodes to {len(raw)} bytes, less than one row")
    raw = raw[: rows * row_bytes]
    if layout.bits_per_sample == 1:
        bits = np.unpackbits(raw.reshape(rows, row_bytes), axis=1)[:, : cols * spp]
        return bits.reshape(rows, cols, spp)
    dtype = np.dtype(layout.dtype).newbyteorder(layout.byte_order)
    arr = raw.view(dtype).reshape(rows, cols, spp)
    if layout.predictor == 3:
        arr = imagecodecs.floatpred_decode(arr if arr.flags.writeable else arr.copy(), axis=-2)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if layout.predictor == 2:
        if not arr.flags.writeable:
            arr = arr.copy()
        flat = arr.view(f"u{itemsize}") if arr.dtype.kind == "f" else arr
        imagecodecs.delta_decode(flat, axis=-2, out=flat)
    return arr


def _decode_image(data: Bytes, layout: ImageLayout, spp: int) -> np.ndarray:
    codec = layout.compression
    if codec == Compression.JPEG:
        if layout.photometric == PHOTOMETRIC_YCBCR:
            space = {"colorspace": "YCBCR", "outcolorspace": "RGB"}
        elif layout.photometric == PHOTOMETRIC_RGB and spp == 3:
            space = {"colorspace": "RGB", "outcolorspace": "RGB"}
        else:
            space = {}
        return imagecodecs.jpeg8_decode(data, tables=layout.jpeg_tables or None, **space)
    if codec == Compression.WEBP:
        return imagecodecs.webp_decode(data, hasalpha=spp == 4)
    if codec in (Compression.JPEGXL, Compression.JPEGXL_DNG):
        return imagecodecs.jpegxl_decode(data)
    params = layout.lerc_parameters or (4, 0)
    outer = params[1] if len(params) > 1 else 0
    blob = _LERC_OUTER[outer](data) if outer else data
    values, masks = imagecodecs.lerc_decode(blob, masks=True)
    values = np.asarray(values)
    if masks is not None and values.dtype.kind == "f":
        valid = np.asarray(masks, dtype=bool)
        if valid.shape == values.shape[:2] and not valid.all():
            values = values.copy() if not values.flags.writeable else values
            values[~valid] = np.nan
    return values


def _check_image(
    arr: np.ndarray, layout: ImageLayout, rows: int, cols: int, spp: int, index: int | None
) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if not layout.tiled and index is None:
        rows = arr.shape[0]
    if arr.ndim != 3 or arr.shape[0] < rows or arr.shape[1] < cols or arr.shape[2] < spp:
        raise TiffFormatError(
            f"block decodes to shape {arr.shape}, expected ({rows}, {cols}, {spp}) {layout.dtype}"
        )
    if arr.dtype != np.dtype(layout.dtype):
        raise TiffFormatError(f"block decodes to {arr.dtype}, the image holds {layout.dtype}")
    return arr[:rows, :cols, :spp]
