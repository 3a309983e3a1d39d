"""The parsed structure of a GeoTIFF: the contract between header parsing, the collection and reads.

A :class:`TiffHeader` holds everything a pixel read needs, so a read issues no header request:
the layout of every image (full resolution, overviews, masks) with its block tables, and the
georeferencing. Collections store these fields per band and rebuild the objects at read time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from affine import Affine
from pyproj import CRS

# NewSubfileType bits
SUBFILE_REDUCED = 1
SUBFILE_MASK = 4


@dataclass(frozen=True, eq=False)
class ImageLayout:
    """One TIFF image (IFD): how its pixels are cut into blocks (tiles or strips) and encoded.

    Blocks are numbered like TIFF does: row-major over ``blocks_down x blocks_across``, and for
    planar configuration 2, plane after plane (``plane * blocks_per_plane + row * across + col``).
    For striped images ``block_width == width`` and ``block_height`` is RowsPerStrip.
    ``offsets``/``byte_counts`` are uint64 arrays; a block with offset or byte count 0 is sparse.
    ``byte_order`` is the file's ("<" or ">"); decoded samples are returned in native order.
    """

    width: int
    height: int
    block_width: int
    block_height: int
    tiled: bool
    samples_per_pixel: int
    planar_configuration: int
    bits_per_sample: int
    sample_format: int
    dtype: str
    compression: int
    predictor: int
    photometric: int
    offsets: np.ndarray
    byte_counts: np.ndarray
    jpeg_tables: bytes | None = None
    lerc_parameters: tuple[int, ...] | None = None
    byte_order: str = "<"
    subfile_type: int = 0
    extra_samples: tuple[int, ...] = ()

    @property
    def blocks_across(self) -> int:
        return -(-self.width // self.block_width)

    @property
    def blocks_down(self) -> int:
        return -(-self.height // self.block_height)

    @property
    def blocks_per_plane(self) -> int:
        return self.blocks_across * self.blocks_down

    @property
    def is_mask(self) -> bool:
        return bool(self.subfile_type & SUBFILE_MASK)

    def block_index(self, row: int, col: int, plane: int = 0) -> int:
        """Index into ``offsets``/``byte_counts`` of block (row, col) of ``plane``."""
        base = plane * self.blocks_per_plane if self.planar_configuration == 2 else 0
        return base + row * self.blocks_across + col


@dataclass(frozen=True, eq=False)
class TiffHeader:
    """Everything known about one GeoTIFF after its header was parsed.

    images: full resolution first, then its overviews in file order, which is GDAL's
        ``overview_level`` order (largest first in COGs).
    masks: the internal mask image of ``images[i]`` (same index), or None.
    transform: pixel-is-area affine of the full-resolution image (PixelIsPoint already shifted).
    nodata: GDAL_NODATA (one value for all bands), or None.
    scales / offsets / descriptions: per band, from GDAL_METADATA (1.0 / 0.0 / "" when absent).
    size / etag: of the object when it was read, to detect later replacement.
    header_requests: range requests the parse needed.
    """

    source: str
    images: tuple[ImageLayout, ...]
    masks: tuple[ImageLayout | None, ...]
    crs: CRS | None
    transform: Affine
    nodata: float | None = None
    scales: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()
    descriptions: tuple[str, ...] = ()
    size: int | None = None
    etag: str | None = None
    header_requests: int = 0
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def full(self) -> ImageLayout:
        return self.images[0]

    @property
    def width(self) -> int:
        return self.images[0].width

    @property
    def height(self) -> int:
        return self.images[0].height

    @property
    def count(self) -> int:
        return self.images[0].samples_per_pixel

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.images[0].dtype)

    @property
    def overviews(self) -> list[tuple[int, int]]:
        """(width, height) of each overview, in ``overview_level`` order."""
        return [(im.width, im.height) for im in self.images[1:]]
