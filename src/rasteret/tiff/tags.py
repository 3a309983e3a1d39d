"""TIFF tag ids, field types and compression codes used by the parser and decoders."""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Tag(IntEnum):
    """The TIFF / GeoTIFF / GDAL tags rasteret reads."""

    NEW_SUBFILE_TYPE = 254
    IMAGE_WIDTH = 256
    IMAGE_LENGTH = 257
    BITS_PER_SAMPLE = 258
    COMPRESSION = 259
    PHOTOMETRIC = 262
    FILL_ORDER = 266
    STRIP_OFFSETS = 273
    SAMPLES_PER_PIXEL = 277
    ROWS_PER_STRIP = 278
    STRIP_BYTE_COUNTS = 279
    PLANAR_CONFIGURATION = 284
    PREDICTOR = 317
    TILE_WIDTH = 322
    TILE_LENGTH = 323
    TILE_OFFSETS = 324
    TILE_BYTE_COUNTS = 325
    EXTRA_SAMPLES = 338
    SAMPLE_FORMAT = 339
    JPEG_TABLES = 347
    MODEL_PIXEL_SCALE = 33550
    MODEL_TIEPOINT = 33922
    MODEL_TRANSFORMATION = 34264
    GEO_KEY_DIRECTORY = 34735
    GEO_DOUBLE_PARAMS = 34736
    GEO_ASCII_PARAMS = 34737
    GDAL_METADATA = 42112
    GDAL_NODATA = 42113
    LERC_PARAMETERS = 50674


# Tags that only matter in the first IFD (georeferencing and GDAL metadata).
GEO_TAGS = frozenset(
    {
        Tag.MODEL_PIXEL_SCALE,
        Tag.MODEL_TIEPOINT,
        Tag.MODEL_TRANSFORMATION,
        Tag.GEO_KEY_DIRECTORY,
        Tag.GEO_DOUBLE_PARAMS,
        Tag.GEO_ASCII_PARAMS,
        Tag.GDAL_METADATA,
        Tag.GDAL_NODATA,
    }
)
KNOWN_TAGS = frozenset(int(t) for t in Tag)

# TIFF field type -> numpy dtype character code (byte order is added by the parser).
# RATIONAL/SRATIONAL are read as pairs of 32-bit integers.
FIELD_TYPES: dict[int, str] = {
    1: "u1",  # BYTE
    2: "u1",  # ASCII
    3: "u2",  # SHORT
    4: "u4",  # LONG
    5: "u4",  # RATIONAL (numerator, denominator)
    6: "i1",  # SBYTE
    7: "u1",  # UNDEFINED
    8: "i2",  # SSHORT
    9: "i4",  # SLONG
    10: "i4",  # SRATIONAL
    11: "f4",  # FLOAT
    12: "f8",  # DOUBLE
    13: "u4",  # IFD
    16: "u8",  # LONG8
    17: "i8",  # SLONG8
    18: "u8",  # IFD8
}
RATIONAL_TYPES = frozenset({5, 10})
ASCII_TYPE = 2


def field_size(field_type: int) -> int:
    """Bytes taken by one value of a field type (a rational counts as two values)."""
    return np.dtype(FIELD_TYPES[field_type]).itemsize * (2 if field_type in RATIONAL_TYPES else 1)


class Compression(IntEnum):
    """TIFF compression codes rasteret decodes."""

    NONE = 1
    LZW = 5
    OJPEG = 6
    JPEG = 7
    ADOBE_DEFLATE = 8
    PACKBITS = 32773
    DEFLATE = 32946
    LZMA = 34925
    LERC = 34887
    ZSTD = 50000
    WEBP = 50001
    JPEGXL = 50002
    JPEGXL_DNG = 52546


# Photometric interpretations
PHOTOMETRIC_MINISWHITE = 0
PHOTOMETRIC_MINISBLACK = 1
PHOTOMETRIC_RGB = 2
PHOTOMETRIC_PALETTE = 3
PHOTOMETRIC_MASK = 4
PHOTOMETRIC_YCBCR = 6

# SampleFormat -> numpy kind
SAMPLE_KINDS = {1: "u", 2: "i", 3: "f", 4: "u"}


def sample_dtype(sample_format: int, bits: int) -> str | None:
    """numpy dtype name for a (SampleFormat, BitsPerSample) pair, or None if unsupported."""
    kind = SAMPLE_KINDS.get(sample_format)
    if kind is None:
        return None
    if bits == 1 and kind == "u":
        return "uint8"
    if kind == "f" and bits not in (16, 32, 64):
        return None
    if bits not in (8, 16, 32, 64):
        return None
    return str(np.dtype(f"{kind}{bits // 8}"))
