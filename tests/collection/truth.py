"""Ground truth for headers: a TiffHeader built from tifffile (layout) and rasterio (georeference).

Independent of rasteret's own TIFF parser, so tests can compare what a collection stores and
rebuilds against what these libraries read from the same bytes.
"""

from __future__ import annotations

import os

import numpy as np
import rasterio
import tifffile
from pyproj import CRS

from rasteret.tiff.model import SUBFILE_MASK, ImageLayout, TiffHeader


def _layout(page: tifffile.TiffPage, byte_order: str) -> ImageLayout:
    tiled = bool(page.is_tiled)
    return ImageLayout(
        width=int(page.imagewidth),
        height=int(page.imagelength),
        block_width=int(page.tilewidth if tiled else page.imagewidth),
        block_height=int(page.tilelength if tiled else page.rowsperstrip),
        tiled=tiled,
        samples_per_pixel=int(page.samplesperpixel),
        planar_configuration=int(page.planarconfig),
        bits_per_sample=int(page.bitspersample),
        sample_format=int(page.sampleformat),
        dtype=np.dtype(page.dtype).name,
        compression=int(page.compression),
        predictor=int(page.predictor),
        photometric=int(page.photometric),
        offsets=np.asarray(page.dataoffsets, dtype=np.uint64),
        byte_counts=np.asarray(page.databytecounts, dtype=np.uint64),
        jpeg_tables=page.jpegtables,
        byte_order=byte_order,
        subfile_type=int(page.subfiletype),
        extra_samples=tuple(int(x) for x in (page.extrasamples or ())),
    )


def header_from_file(path: str | os.PathLike[str], source: str | None = None) -> TiffHeader:
    """The TiffHeader of a local GeoTIFF as tifffile + rasterio see it."""
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        order = tif.byteorder
        images = [_layout(p, order) for p in pages if not p.subfiletype & SUBFILE_MASK]
        masks_by_size = {
            (p.imagewidth, p.imagelength): _layout(p, order)
            for p in pages
            if p.subfiletype & SUBFILE_MASK
        }
    masks = tuple(masks_by_size.get((im.width, im.height)) for im in images)
    with rasterio.open(path) as src:
        crs = CRS.from_user_input(src.crs.to_wkt()) if src.crs else None
        if src.crs and src.crs.to_epsg():
            crs = CRS.from_epsg(src.crs.to_epsg())
        transform = src.transform
        nodata = src.nodata
        scales = tuple(float(s) for s in src.scales)
        offsets = tuple(float(o) for o in src.offsets)
        descriptions = tuple(d or "" for d in src.descriptions)
    return TiffHeader(
        source=source or os.fspath(path),
        images=tuple(images),
        masks=masks,
        crs=crs,
        transform=transform,
        nodata=nodata,
        scales=scales,
        offsets=offsets,
        descriptions=descriptions,
        size=os.path.getsize(path),
        etag=None,
        header_requests=1,
    )


def assert_same_header(got: TiffHeader, want: TiffHeader) -> None:
    """Every field a read depends on is equal (tile tables element by element)."""
    assert len(got.images) == len(want.images)
    for a, b in zip(got.images, want.images, strict=True):
        for name in (
            "width",
            "height",
            "block_width",
            "block_height",
            "tiled",
            "samples_per_pixel",
            "planar_configuration",
            "bits_per_sample",
            "sample_format",
            "dtype",
            "compression",
            "predictor",
            "photometric",
            "byte_order",
        ):
            assert getattr(a, name) == getattr(b, name), name
        np.testing.assert_array_equal(a.offsets, b.offsets)
        np.testing.assert_array_equal(a.byte_counts, b.byte_counts)
    assert [m is None for m in got.masks] == [m is None for m in want.masks]
    assert got.crs == want.crs
    assert tuple(got.transform) == tuple(want.transform)
    assert got.nodata == want.nodata or (np.isnan(got.nodata) and np.isnan(want.nodata))
    assert got.size == want.size
