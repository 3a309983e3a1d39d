"""TIFF/COG layer: header parsing, decoding and window reads; knows nothing of collections.

Stand-alone use::

    from rasteret.tiff import open_geotiff
    src = open_geotiff("s3://bucket/scene.tif")        # one request for a typical COG
    arr = src.read(1, window=(0, 0, 512, 512))         # same pixels as rasterio

Building blocks for other layers: :func:`read_header` (parse only), :func:`fetch_blocks` (the
shared fetch/decode engine), :func:`decode_block`, and the :class:`TiffHeader` /
:class:`ImageLayout` model stored in collections.
"""

from rasteret.tiff.engine import BlockRef, FetchStats, Sink, decode_block, fetch_blocks
from rasteret.tiff.header import PREFIX_SIZE, parse_header_bytes, read_header
from rasteret.tiff.model import ImageLayout, TiffHeader
from rasteret.tiff.reader import GeoTiff, open_geotiff, open_geotiff_async, window_items

__all__ = [
    "PREFIX_SIZE",
    "BlockRef",
    "FetchStats",
    "GeoTiff",
    "ImageLayout",
    "Sink",
    "TiffHeader",
    "decode_block",
    "fetch_blocks",
    "open_geotiff",
    "open_geotiff_async",
    "parse_header_bytes",
    "read_header",
    "window_items",
]
