"""The collection's column layout and the per-band header struct, with encode/decode of headers.

Each band ``B`` has a struct column ``B_metadata`` holding what a read needs (see
:data:`BAND_TYPE`). Bands stored in the same file (a multi-band COG) share one copy of its
tile tables: the first such band holds the header and the others name it in ``header_of``.
Tile tables are little-endian uint64 bytes, one blob per image, so a 100k-tile table is one
buffer (read back zero-copy) instead of 100k Python objects.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from affine import Affine
from pyproj import CRS

from rasteret.tiff.model import ImageLayout, TiffHeader

SCHEMA_VERSION = "2"

ID = "id"
DATETIME = "datetime"
GEOMETRY = "geometry"
BBOX = "bbox"
ASSETS = "assets"
COLLECTION = "collection"
CRS_COLUMN = "crs"
EPSG_COLUMN = "proj:epsg"
YEAR = "year"
MONTH = "month"
BAND_SUFFIX = "_metadata"

REQUIRED_COLUMNS = (ID, DATETIME, GEOMETRY, BBOX, ASSETS)
PARTITION_COLUMNS = (YEAR, MONTH)

BBOX_TYPE = pa.struct(
    [("xmin", pa.float64()), ("ymin", pa.float64()), ("xmax", pa.float64()), ("ymax", pa.float64())]
)
ASSET_TYPE = pa.struct([("href", pa.string()), ("band_index", pa.int32())])

IMAGE_TYPE = pa.struct(
    [
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("block_width", pa.int32()),
        ("block_height", pa.int32()),
        ("tiled", pa.bool_()),
        ("samples_per_pixel", pa.int32()),
        ("planar_configuration", pa.int32()),
        ("bits_per_sample", pa.int32()),
        ("sample_format", pa.int32()),
        ("dtype", pa.string()),
        ("compression", pa.int32()),
        ("predictor", pa.int32()),
        ("photometric", pa.int32()),
        ("subfile_type", pa.int32()),
        ("extra_samples", pa.list_(pa.int32())),
        ("byte_order", pa.string()),
        ("jpeg_tables", pa.binary()),
        ("lerc_parameters", pa.list_(pa.int32())),
        ("offsets", pa.large_binary()),
        ("byte_counts", pa.large_binary()),
    ]
)

BAND_TYPE = pa.struct(
    [
        # band level: always set
        ("band_index", pa.int32()),
        ("header_of", pa.string()),
        ("nodata", pa.float64()),
        ("scale", pa.float64()),
        ("offset", pa.float64()),
        # file level: null when header_of names the band holding this file's header
        ("dtype", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("crs", pa.string()),
        ("transform", pa.list_(pa.float64())),
        ("file_nodata", pa.float64()),
        ("scales", pa.list_(pa.float64())),
        ("offsets", pa.list_(pa.float64())),
        ("descriptions", pa.list_(pa.string())),
        ("size", pa.int64()),
        ("etag", pa.string()),
        ("header_requests", pa.int32()),
        ("metadata", pa.map_(pa.string(), pa.string())),
        ("images", pa.list_(IMAGE_TYPE)),
        ("masks", pa.list_(IMAGE_TYPE)),
    ]
)

LEGACY_FIELDS = frozenset({"tile_offsets", "tile_byte_counts", "image_width", "tile_width"})


def band_column(band: str) -> str:
    """Name of the header struct column of ``band``."""
    return f"{band}{BAND_SUFFIX}"


def bands_in_schema(schema: pa.Schema) -> list[str]:
    """Band codes with a header struct column, in schema order."""
    return [
        f.name[: -len(BAND_SUFFIX)]
        for f in schema
        if f.name.endswith(BAND_SUFFIX) and pa.types.is_struct(f.type)
    ]


def is_legacy_band_type(dtype: pa.DataType) -> bool:
    """True for the reference implementation's flat ``{band}_metadata`` struct."""
    names = {dtype.field(i).name for i in range(dtype.num_fields)}
    return "images" not in names and bool(names & LEGACY_FIELDS)


# --- CRS text ---------------------------------------------------------------------------------


def crs_to_text(crs: CRS | None) -> str | None:
    """``EPSG:n`` when the CRS is exactly an EPSG code, else WKT2 (round-trips either way)."""
    if crs is None:
        return None
    return _crs_text(crs.srs) if crs.srs else _crs_text_of(crs)


@functools.lru_cache(maxsize=256)
def _crs_text(srs: str) -> str:
    return _crs_text_of(CRS.from_user_input(srs))


def _crs_text_of(crs: CRS) -> str:
    auth = crs.to_authority(min_confidence=100)
    if auth and auth[0] == "EPSG" and CRS.from_epsg(int(auth[1])) == crs:
        return f"EPSG:{auth[1]}"
    return crs.to_wkt()


@functools.lru_cache(maxsize=256)
def crs_from_text(text: str) -> CRS:
    """Parse a stored CRS (cached: a collection repeats a few CRSs many times)."""
    return CRS.from_user_input(text)


def epsg_of(text: str | None) -> int | None:
    """EPSG code of a stored CRS text, if it has one."""
    if not text:
        return None
    if text.upper().startswith("EPSG:"):
        return int(text.split(":", 1)[1])
    return crs_from_text(text).to_epsg()


# --- encode -----------------------------------------------------------------------------------


def _u64_bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<u8").tobytes()


def image_to_dict(image: ImageLayout) -> dict[str, Any]:
    """One ImageLayout as a value of :data:`IMAGE_TYPE`."""
    return {
        "width": image.width,
        "height": image.height,
        "block_width": image.block_width,
        "block_height": image.block_height,
        "tiled": image.tiled,
        "samples_per_pixel": image.samples_per_pixel,
        "planar_configuration": image.planar_configuration,
        "bits_per_sample": image.bits_per_sample,
        "sample_format": image.sample_format,
        "dtype": image.dtype,
        "compression": image.compression,
        "predictor": image.predictor,
        "photometric": image.photometric,
        "subfile_type": image.subfile_type,
        "extra_samples": list(image.extra_samples),
        "byte_order": image.byte_order,
        "jpeg_tables": image.jpeg_tables,
        "lerc_parameters": list(image.lerc_parameters) if image.lerc_parameters else None,
        "offsets": _u64_bytes(image.offsets),
        "byte_counts": _u64_bytes(image.byte_counts),
    }


def header_to_dict(header: TiffHeader) -> dict[str, Any]:
    """The file-level fields of :data:`BAND_TYPE` for one parsed header."""
    return {
        "dtype": header.images[0].dtype,
        "width": header.width,
        "height": header.height,
        "crs": crs_to_text(header.crs),
        "transform": list(header.transform)[:6],
        "file_nodata": header.nodata,
        "scales": list(header.scales),
        "offsets": list(header.offsets),
        "descriptions": list(header.descriptions),
        "size": header.size,
        "etag": header.etag,
        "header_requests": header.header_requests,
        "metadata": list(header.metadata.items()) if header.metadata else None,
        "images": [image_to_dict(im) for im in header.images],
        "masks": [image_to_dict(m) if m is not None else None for m in header.masks],
    }


def band_value(
    *,
    band_index: int,
    header: Mapping[str, Any] | None = None,
    header_of: str | None = None,
    nodata: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
) -> dict[str, Any]:
    """One value of :data:`BAND_TYPE`: band fields plus the file's header dict (or a reference).

    nodata / scale / offset are overrides (e.g. from STAC ``raster:bands``); None means "use
    the header's".
    """
    value: dict[str, Any] = {
        "band_index": band_index,
        "header_of": header_of,
        "nodata": nodata,
        "scale": scale,
        "offset": offset,
    }
    if header is not None and header_of is None:
        value.update(header)
    return value


# --- decode -----------------------------------------------------------------------------------


def _binary_arrays(arr: pa.Array) -> list[np.ndarray | None]:
    """Each blob of a (large_)binary array as a zero-copy uint64 view."""
    if len(arr) == 0:
        return []
    offset_type = "<i8" if pa.types.is_large_binary(arr.type) else "<i4"
    validity, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[arr.offset : arr.offset + len(arr) + 1]
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    out: list[np.ndarray | None] = []
    data = data_buf if data_buf is not None else pa.py_buffer(b"")
    for i in range(len(arr)):
        if not valid[i]:
            out.append(None)
            continue
        start, stop = int(offsets[i]), int(offsets[i + 1])
        out.append(np.frombuffer(data, dtype="<u8", count=(stop - start) // 8, offset=start))
    return out


def _images_from_list(list_arr: pa.ListArray) -> list[list[ImageLayout | None] | None]:
    """Decode a list<IMAGE_TYPE> column into per-row lists of ImageLayout."""
    flat = list_arr.flatten()
    row_offsets = list_arr.offsets.to_numpy()
    row_valid = list_arr.is_valid().to_numpy(zero_copy_only=False)
    flat_valid = flat.is_valid().to_numpy(zero_copy_only=False) if len(flat) else []
    scalars = {
        name: flat.field(name).to_pylist()
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
            "subfile_type",
            "extra_samples",
            "byte_order",
            "jpeg_tables",
            "lerc_parameters",
        )
    }
    offsets = _binary_arrays(flat.field("offsets"))
    counts = _binary_arrays(flat.field("byte_counts"))
    layouts: list[ImageLayout | None] = []
    for j in range(len(flat)):
        if not flat_valid[j]:
            layouts.append(None)
            continue
        s = {k: v[j] for k, v in scalars.items()}
        layouts.append(
            ImageLayout(
                width=s["width"],
                height=s["height"],
                block_width=s["block_width"],
                block_height=s["block_height"],
                tiled=bool(s["tiled"]),
                samples_per_pixel=s["samples_per_pixel"],
                planar_configuration=s["planar_configuration"],
                bits_per_sample=s["bits_per_sample"],
                sample_format=s["sample_format"],
                dtype=s["dtype"],
                compression=s["compression"],
                predictor=s["predictor"],
                photometric=s["photometric"],
                offsets=offsets[j] if offsets[j] is not None else np.zeros(0, "<u8"),
                byte_counts=counts[j] if counts[j] is not None else np.zeros(0, "<u8"),
                jpeg_tables=s["jpeg_tables"],
                lerc_parameters=tuple(s["lerc_parameters"]) if s["lerc_parameters"] else None,
                byte_order=s["byte_order"] or "<",
                subfile_type=s["subfile_type"] or 0,
                extra_samples=tuple(s["extra_samples"] or ()),
            )
        )
    rows: list[list[ImageLayout | None] | None] = []
    first = int(row_offsets[0]) if len(row_offsets) else 0
    for i in range(len(list_arr)):
        if not row_valid[i]:
            rows.append(None)
            continue
        rows.append(layouts[int(row_offsets[i]) - first : int(row_offsets[i + 1]) - first])
    return rows


def decode_headers(column: pa.StructArray, urls: Sequence[str | None]) -> list[TiffHeader | None]:
    """Rebuild the TiffHeader of each row of a band column (None where it holds no header)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    images = _images_from_list(column.field("images"))
    masks = _images_from_list(column.field("masks"))
    fields = {
        name: column.field(name).to_pylist()
        for name in (
            "header_of",
            "crs",
            "transform",
            "file_nodata",
            "scales",
            "offsets",
            "descriptions",
            "size",
            "etag",
            "header_requests",
            "metadata",
        )
    }
    out: list[TiffHeader | None] = []
    for i in range(n):
        imgs = images[i]
        if not valid[i] or fields["header_of"][i] is not None or not imgs:
            out.append(None)
            continue
        row_masks = masks[i] or []
        row_masks = list(row_masks) + [None] * (len(imgs) - len(row_masks))
        crs_text = fields["crs"][i]
        out.append(
            TiffHeader(
                source=urls[i] or "",
                images=tuple(im for im in imgs if im is not None),
                masks=tuple(row_masks[: len(imgs)]),
                crs=crs_from_text(crs_text) if crs_text else None,
                transform=Affine(*(fields["transform"][i] or [1, 0, 0, 0, 1, 0])[:6]),
                nodata=_float_or_none(fields["file_nodata"][i]),
                scales=tuple(fields["scales"][i] or ()),
                offsets=tuple(fields["offsets"][i] or ()),
                descriptions=tuple(fields["descriptions"][i] or ()),
                size=fields["size"][i],
                etag=fields["etag"][i],
                header_requests=fields["header_requests"][i] or 0,
                metadata=dict(fields["metadata"][i] or []),
            )
        )
    return out


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# --- the reference implementation's flat struct ---------------------------------------------

_LEGACY_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3, "c": 6}


def decode_legacy_header(value: Mapping[str, Any], url: str, crs: CRS | None) -> TiffHeader | None:
    """Rebuild a TiffHeader from one reference-0.4 ``{band}_metadata`` struct value."""
    if not value or value.get("tile_offsets") is None:
        return None
    dtype = np.dtype(value["dtype"])
    tf = list(value.get("transform") or [])
    if len(tf) == 4:
        transform = Affine(tf[0], 0.0, tf[1], 0.0, tf[2], tf[3])
    elif len(tf) >= 6:
        transform = Affine(*tf[:6])
    else:
        transform = Affine.identity()
    layout = ImageLayout(
        width=int(value["image_width"]),
        height=int(value["image_height"]),
        block_width=int(value["tile_width"]),
        block_height=int(value["tile_height"]),
        tiled=True,
        samples_per_pixel=int(value.get("samples_per_pixel") or 1),
        planar_configuration=int(value.get("planar_configuration") or 1),
        bits_per_sample=dtype.itemsize * 8,
        sample_format=_LEGACY_SAMPLE_FORMAT.get(dtype.kind, 1),
        dtype=dtype.name,
        compression=int(value.get("compression") or 1),
        predictor=int(value.get("predictor") or 1),
        photometric=int(value.get("photometric") or 1),
        offsets=np.asarray(value["tile_offsets"], dtype="<u8"),
        byte_counts=np.asarray(value["tile_byte_counts"], dtype="<u8"),
        extra_samples=tuple(value.get("extra_samples") or ()),
    )
    nodata = value.get("nodata")
    return TiffHeader(
        source=url,
        images=(layout,),
        masks=(None,),
        crs=crs,
        transform=transform,
        nodata=None if nodata is None else float(nodata),
    )
