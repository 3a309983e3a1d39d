"""Parse every IFD of a classic or Big TIFF (either byte order) in as few requests as possible.

One request reads a 64 KiB prefix, which also gives the object's size and ETag. IFDs, tag values
stored out of line and tile tables that lie beyond what was read are fetched afterwards: near
ones by doubling the prefix, far ones (GDAL's GTiff often puts the IFDs at the end of the file)
by reading ahead from where they start; all values one IFD chain needs are fetched together.
A typical COG header costs exactly one request (``TiffHeader.header_requests``).

Images: IFD 0 is the full resolution; reduced-resolution IFDs (NewSubfileType bit 1) with the
same bands and data type are its overviews, kept in file order like GDAL (``overview_level=k``
of rasterio is ``images[k + 1]``); mask IFDs (bit 4) are matched to the image of the same size.
Every malformed, truncated or hostile input raises :class:`~rasteret.errors.TiffFormatError`
naming the source and the fault: IFD cycles, absurd counts and sizes, offsets beyond the end.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rasteret.errors import (
    AccessDeniedError,
    ObjectNotFoundError,
    StorageError,
    TiffFormatError,
    UnsupportedTiffError,
)
from rasteret.io import Backend, ObjectInfo, coalesce_ranges, default_backend, redact_url
from rasteret.tiff import geo
from rasteret.tiff.model import SUBFILE_MASK, SUBFILE_REDUCED, ImageLayout, TiffHeader
from rasteret.tiff.tags import (
    ASCII_TYPE,
    FIELD_TYPES,
    GEO_TAGS,
    KNOWN_TAGS,
    PHOTOMETRIC_MINISBLACK,
    RATIONAL_TYPES,
    Compression,
    Tag,
    field_size,
    sample_dtype,
)

# Per field type: bytes per value, and the struct code of a single integer value.
_SIZES = {t: field_size(t) for t in FIELD_TYPES}
_INT_CODES = {1: "B", 2: "B", 3: "H", 4: "I", 6: "b", 7: "B", 8: "h", 9: "i", 13: "I", 16: "Q",
              17: "q", 18: "Q"}  # fmt: skip

PREFIX_SIZE = 64 * 1024
READ_AHEAD = 64 * 1024
MAX_IFDS = 4096
MAX_ENTRIES = 4096
MAX_BLOCK_BYTES = 1 << 31
MAX_DIMENSION = 1 << 31
MAX_SAMPLES = 65535


@dataclass
class _Entry:
    type: int
    count: int
    inline: bytes | None  # the value bytes when stored in the entry
    offset: int  # where the value is when stored out of line


@dataclass
class _IFD:
    offset: int
    entries: dict[int, _Entry]


class _Bytes:
    """The parts of one object read so far: a prefix from byte 0 and a few far segments."""

    def __init__(self, source: str, backend: Backend | None, data: Any, info: ObjectInfo) -> None:
        self.source = source
        self.backend = backend
        self.prefix = bytes(data)
        self.size = info.size
        self.etag = info.etag
        self.segments: list[tuple[int, bytes]] = []
        self.requests = 1 if backend is not None else 0

    def get(self, start: int, end: int) -> bytes | None:
        if end <= len(self.prefix):
            return self.prefix[start:end]
        for seg_start, seg in self.segments:
            if seg_start <= start and end <= seg_start + len(seg):
                return seg[start - seg_start : end - seg_start]
        return None

    def need(self, start: int, end: int, what: str) -> bytes:
        data = self.get(start, end)
        if data is None:  # ensure() was called first: only a logic error can get here
            raise TiffFormatError(f"{self.where}: {what} at {start}-{end} was not read")
        return data

    @functools.cached_property
    def where(self) -> str:
        return redact_url(self.source)

    async def ensure(self, ranges: Sequence[tuple[int, int, str]]) -> None:
        """Fetch whatever part of ``(start, end, what)`` ranges was not read yet."""
        missing = []
        for start, end, what in ranges:
            if start < 0 or end > self.size or end < start:
                raise TiffFormatError(
                    f"{self.where}: {what} at bytes {start}-{end} lies beyond the end of the "
                    f"file ({self.size} bytes); the file is truncated or corrupt"
                )
            if self.get(start, end) is None:
                missing.append((start, end))
        if not missing:
            return
        if self.backend is None:
            raise TiffFormatError(f"{self.where}: bytes {missing[0]} are missing")
        # Ranges close to the prefix (or to the growth other ranges already cause) extend it.
        near_end = 0
        far = []
        for start, end in sorted(missing):
            if start < max(4 * len(self.prefix), near_end + READ_AHEAD):
                near_end = max(near_end, end)
            else:
                far.append((start, end))
        jobs: list[Coroutine[Any, Any, None]] = []
        if near_end:
            jobs.append(self._grow(min(self.size, max(near_end, 2 * len(self.prefix)))))
        for merged in coalesce_ranges(far, gap=READ_AHEAD):
            end = min(self.size, max(merged.end, merged.start + READ_AHEAD))
            jobs.append(self._segment(merged.start, end))
        await asyncio.gather(*jobs)

    async def _grow(self, end: int) -> None:
        assert self.backend is not None
        data = await self.backend.get_range(self.source, len(self.prefix), end)
        self.requests += 1
        self.prefix += bytes(data)

    async def _segment(self, start: int, end: int) -> None:
        assert self.backend is not None
        data = await self.backend.get_range(self.source, start, end)
        self.requests += 1
        self.segments.append((start, bytes(data)))


async def read_header(
    source: str, *, backend: Backend | None = None, prefix_size: int = PREFIX_SIZE
) -> TiffHeader:
    """Parse the header of the TIFF at ``source`` (a path or URL) through ``backend``."""
    backend = backend or default_backend()
    try:
        data, info = await backend.get_prefix(source, prefix_size)
    except (ObjectNotFoundError, AccessDeniedError):
        raise
    except StorageError:
        # Some stores refuse any range of an empty object: tell that apart from real failures.
        if (await backend.head(source)).size < 8:
            raise TiffFormatError(f"{redact_url(source)}: not a TIFF (empty file)") from None
        raise
    return await _parse(_Bytes(source, backend, data, info))


def parse_header_bytes(data: bytes | memoryview, source: str = "<memory>") -> TiffHeader:
    """Parse a TIFF held entirely in memory (no I/O)."""
    buf = _Bytes(source, None, data, ObjectInfo(len(data)))
    coro = _parse(buf)
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()  # pragma: no cover - _parse never suspends without a backend
    raise TiffFormatError(f"{source}: parsing needed I/O")  # pragma: no cover


# --- structure ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Format:
    order: str
    big: bool

    @property
    def count_size(self) -> int:
        return 8 if self.big else 2

    @property
    def entry_size(self) -> int:
        return 20 if self.big else 12

    @property
    def offset_size(self) -> int:
        return 8 if self.big else 4

    def uint(self, data: bytes) -> int:
        code = {2: "H", 4: "I", 8: "Q"}[len(data)]
        return int(struct.unpack(self.order + code, data)[0])


def _format(buf: _Bytes) -> tuple[_Format, int]:
    head = buf.prefix[:16]
    if len(head) < 8:
        raise TiffFormatError(f"{buf.where}: not a TIFF (only {buf.size} bytes)")
    marks = {b"II": "<", b"MM": ">"}
    order = marks.get(head[:2])
    if order is None:
        raise TiffFormatError(f"{buf.where}: not a TIFF (starts with {head[:4]!r})")
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic == 42:
        return _Format(order, False), struct.unpack(order + "I", head[4:8])[0]
    if magic == 43:
        if len(head) < 16:
            raise TiffFormatError(f"{buf.where}: BigTIFF header is truncated")
        size, zero = struct.unpack(order + "HH", head[4:8])
        if size != 8 or zero != 0:
            raise TiffFormatError(f"{buf.where}: BigTIFF header has offset size {size}")
        return _Format(order, True), struct.unpack(order + "Q", head[8:16])[0]
    raise TiffFormatError(f"{buf.where}: not a TIFF (version {magic}, expected 42 or 43)")


async def _read_ifds(buf: _Bytes, fmt: _Format, first: int) -> list[_IFD]:
    ifds: list[_IFD] = []
    seen: set[int] = set()
    offset = first
    header_size = 16 if fmt.big else 8
    entry = struct.Struct(fmt.order + ("HHQ8s" if fmt.big else "HHI4s"))
    while offset:
        where = f"IFD {len(ifds)} at offset {offset}"
        if offset in seen:
            raise TiffFormatError(f"{buf.where}: {where} was already read (the IFD chain loops)")
        if len(ifds) >= MAX_IFDS:
            raise TiffFormatError(f"{buf.where}: more than {MAX_IFDS} IFDs")
        if offset < header_size:
            raise TiffFormatError(f"{buf.where}: {where} points into the file header")
        seen.add(offset)
        await buf.ensure([(offset, offset + fmt.count_size, where)])
        n = fmt.uint(buf.need(offset, offset + fmt.count_size, where))
        if n == 0 or n > MAX_ENTRIES:
            raise TiffFormatError(f"{buf.where}: {where} claims {n} entries")
        start = offset + fmt.count_size
        end = start + n * fmt.entry_size + fmt.offset_size
        await buf.ensure([(offset, end, where)])
        entries: dict[int, _Entry] = {}
        for tag, ftype, count, value in entry.iter_unpack(
            buf.need(start, end - fmt.offset_size, where)
        ):
            if tag not in KNOWN_TAGS or (ifds and tag in GEO_TAGS) or tag in entries:
                continue
            if ftype not in FIELD_TYPES:
                raise TiffFormatError(f"{buf.where}: {where}: tag {tag} has unknown type {ftype}")
            nbytes = count * _SIZES[ftype]
            if nbytes > buf.size:
                raise TiffFormatError(
                    f"{buf.where}: {where}: tag {tag} claims {count} values, more than the "
                    f"file holds ({buf.size} bytes)"
                )
            if nbytes <= fmt.offset_size:
                entries[tag] = _Entry(ftype, count, value[:nbytes], 0)
            else:
                entries[tag] = _Entry(ftype, count, None, fmt.uint(value))
        ifds.append(_IFD(offset, entries))
        offset = fmt.uint(buf.need(end - fmt.offset_size, end, where))
    if not ifds:
        raise TiffFormatError(f"{buf.where}: the TIFF has no image (first IFD offset is 0)")
    return ifds


class _Values:
    """Decoded tag values of one IFD."""

    def __init__(self, buf: _Bytes, fmt: _Format, ifd: _IFD, index: int) -> None:
        self.buf = buf
        self.fmt = fmt
        self.ifd = ifd
        self.where = f"{buf.where}: IFD {index}"

    def has(self, tag: int) -> bool:
        return tag in self.ifd.entries

    def array(self, tag: int) -> np.ndarray | None:
        entry = self.ifd.entries.get(tag)
        if entry is None:
            return None
        raw = self._raw(tag, entry)
        values = np.frombuffer(raw, dtype=_dtype(self.fmt.order, entry.type))
        if entry.type in RATIONAL_TYPES:
            pairs = values.reshape(-1, 2).astype("f8")
            with np.errstate(divide="ignore", invalid="ignore"):
                return pairs[:, 0] / pairs[:, 1]
        return values

    def text(self, tag: int) -> str | None:
        entry = self.ifd.entries.get(tag)
        if entry is None:
            return None
        if entry.type not in (ASCII_TYPE, 1, 7):
            raise TiffFormatError(f"{self.where}: tag {tag} should be ASCII, is type {entry.type}")
        return self._raw(tag, entry).split(b"\x00", 1)[0].decode("utf-8", "replace")

    def raw(self, tag: int) -> bytes | None:
        entry = self.ifd.entries.get(tag)
        return None if entry is None else self._raw(tag, entry)

    def _raw(self, tag: int, entry: _Entry) -> bytes:
        if entry.inline is not None:
            return entry.inline
        nbytes = entry.count * _SIZES[entry.type]
        return self.buf.need(entry.offset, entry.offset + nbytes, f"tag {tag}")

    def ints(self, tag: int, default: int | None = None) -> list[int]:
        values = self.array(tag)
        if values is None or len(values) == 0:
            if default is None:
                raise TiffFormatError(f"{self.where}: required tag {Tag(tag).name} is missing")
            return [default]
        if values.dtype.kind == "f":
            if not np.all(np.isfinite(values)):
                raise TiffFormatError(f"{self.where}: tag {tag} holds non-finite values")
        return [int(v) for v in values.tolist()]

    def one(self, tag: int, default: int | None = None) -> int:
        entry = self.ifd.entries.get(tag)
        if entry is not None and entry.count == 1 and entry.inline is not None:
            code = _INT_CODES.get(entry.type)
            if code is not None:  # the common case: one integer stored in the entry
                return int(struct.unpack(self.fmt.order + code, entry.inline)[0])
        return self.ints(tag, default)[0]


@functools.cache
def _dtype(order: str, field_type: int) -> np.dtype:
    return np.dtype(order + FIELD_TYPES[field_type])


def _out_of_line_ranges(buf: _Bytes, ifds: list[_IFD]) -> list[tuple[int, int, str]]:
    ranges = []
    for i, ifd in enumerate(ifds):
        for tag, entry in ifd.entries.items():
            if entry.inline is None:
                nbytes = entry.count * _SIZES[entry.type]
                ranges.append((entry.offset, entry.offset + nbytes, f"IFD {i} tag {tag}"))
    return ranges


async def _parse(buf: _Bytes) -> TiffHeader:
    fmt, first = _format(buf)
    ifds = await _read_ifds(buf, fmt, first)
    await buf.ensure(_out_of_line_ranges(buf, ifds))
    values = [_Values(buf, fmt, ifd, i) for i, ifd in enumerate(ifds)]
    full = _layout(values[0], fmt, buf)
    images = [full]
    mask_candidates: list[ImageLayout] = []
    for val in values[1:]:
        subfile = val.one(Tag.NEW_SUBFILE_TYPE, 0)
        if not subfile & (SUBFILE_MASK | SUBFILE_REDUCED):
            continue  # another page: GDAL shows it as a subdataset, not part of this image
        # A broken overview or mask fails the open: skipping it would shift overview levels
        # or change masks relative to GDAL's view of the file.
        layout = _layout(val, fmt, buf)
        if layout.is_mask:
            if layout.samples_per_pixel == 1 and layout.bits_per_sample in (1, 8):
                mask_candidates.append(layout)
        elif (
            layout.samples_per_pixel == full.samples_per_pixel
            and layout.dtype == full.dtype
            and layout.width <= full.width
            and layout.height <= full.height
        ):
            images.append(layout)
    masks: list[ImageLayout | None] = []
    for image in images:
        match = next(
            (m for m in mask_candidates if (m.width, m.height) == (image.width, image.height)),
            None,
        )
        if match is not None:
            mask_candidates.remove(match)
        masks.append(match)
    return _with_geo(buf, values[0], tuple(images), tuple(masks))


def _with_geo(
    buf: _Bytes, first: _Values, images: tuple[ImageLayout, ...], masks: tuple[Any, ...]
) -> TiffHeader:
    def floats(tag: int) -> np.ndarray | None:
        arr = first.array(tag)
        return None if arr is None else arr.astype("f8")

    directory = first.array(Tag.GEO_KEY_DIRECTORY)
    keys = geo.parse_geokeys(
        None if directory is None else directory.tolist(),
        None if (d := floats(Tag.GEO_DOUBLE_PARAMS)) is None else d.tolist(),
        _safe_text(first, Tag.GEO_ASCII_PARAMS),
    )
    georef = geo.georeference(
        floats(Tag.MODEL_PIXEL_SCALE),
        floats(Tag.MODEL_TIEPOINT),
        floats(Tag.MODEL_TRANSFORMATION),
        keys,
        buf.where,
    )
    count = images[0].samples_per_pixel
    gdal = geo.parse_gdal_metadata(_safe_text(first, Tag.GDAL_METADATA), count)
    metadata = dict(gdal.items)
    if georef.pixel_is_point:
        metadata["AREA_OR_POINT"] = "Point"
    elif keys:
        metadata.setdefault("AREA_OR_POINT", "Area")
    return TiffHeader(
        source=buf.source,
        images=images,
        masks=masks,
        crs=georef.crs,
        transform=georef.transform,
        nodata=geo.parse_nodata(_safe_text(first, Tag.GDAL_NODATA)),
        scales=gdal.scales,
        offsets=gdal.offsets,
        descriptions=gdal.descriptions,
        size=buf.size,
        etag=buf.etag,
        header_requests=buf.requests,
        metadata=metadata,
    )


def _safe_text(values: _Values, tag: int) -> str | None:
    try:
        return values.text(tag)
    except TiffFormatError:
        return None


def _layout(val: _Values, fmt: _Format, buf: _Bytes) -> ImageLayout:
    where = val.where
    width = val.one(Tag.IMAGE_WIDTH)
    height = val.one(Tag.IMAGE_LENGTH)
    if not (0 < width < MAX_DIMENSION and 0 < height < MAX_DIMENSION):
        raise TiffFormatError(f"{where}: image size {width}x{height} is invalid")
    spp = val.one(Tag.SAMPLES_PER_PIXEL, 1)
    if not 0 < spp <= MAX_SAMPLES:
        raise TiffFormatError(f"{where}: SamplesPerPixel {spp} is invalid")
    bits = _uniform(val.ints(Tag.BITS_PER_SAMPLE, 1), "BitsPerSample", where)
    sample_format = _uniform(val.ints(Tag.SAMPLE_FORMAT, 1), "SampleFormat", where)
    dtype = sample_dtype(sample_format, bits)
    if dtype is None:
        raise UnsupportedTiffError(
            f"{where}: {bits}-bit samples of SampleFormat {sample_format} are not supported"
        )
    planar = val.one(Tag.PLANAR_CONFIGURATION, 1) if spp > 1 else 1
    if planar not in (1, 2):
        raise TiffFormatError(f"{where}: PlanarConfiguration {planar} is invalid")
    compression = val.one(Tag.COMPRESSION, 1)
    if val.one(Tag.FILL_ORDER, 1) != 1:
        raise UnsupportedTiffError(f"{where}: FillOrder 2 (reversed bits) is not supported")
    tiled = val.has(Tag.TILE_WIDTH) or val.has(Tag.TILE_LENGTH)
    if tiled:
        block_width = val.one(Tag.TILE_WIDTH)
        block_height = val.one(Tag.TILE_LENGTH)
        offsets_tag, counts_tag = Tag.TILE_OFFSETS, Tag.TILE_BYTE_COUNTS
    else:
        block_width = width
        block_height = min(val.one(Tag.ROWS_PER_STRIP, 2**32 - 1), height)
        offsets_tag, counts_tag = Tag.STRIP_OFFSETS, Tag.STRIP_BYTE_COUNTS
    if not (0 < block_width < MAX_DIMENSION and 0 < block_height < MAX_DIMENSION):
        raise TiffFormatError(f"{where}: block size {block_width}x{block_height} is invalid")
    spp_in_block = spp if planar == 1 else 1
    row_bytes = -(-block_width * spp_in_block * bits // 8)
    if row_bytes * block_height > MAX_BLOCK_BYTES:
        raise TiffFormatError(
            f"{where}: one {block_width}x{block_height} block would decode to "
            f"{row_bytes * block_height} bytes, more than rasteret accepts"
        )
    per_plane = -(-width // block_width) * -(-height // block_height)
    expected = per_plane * (spp if planar == 2 else 1)
    offsets = _table(val, offsets_tag, expected, where)
    counts = _table(val, counts_tag, expected, where)
    present = (offsets > 0) & (counts > 0)
    ends = offsets[present] + counts[present]
    if len(ends) and int(ends.max()) > buf.size:
        raise TiffFormatError(
            f"{where}: a block ends at byte {int(ends.max())}, beyond the end of the file "
            f"({buf.size} bytes); the file is truncated"
        )
    lerc = val.array(Tag.LERC_PARAMETERS)
    extra = val.array(Tag.EXTRA_SAMPLES)
    photometric = val.one(Tag.PHOTOMETRIC, PHOTOMETRIC_MINISBLACK)
    return ImageLayout(
        width=width,
        height=height,
        block_width=block_width,
        block_height=block_height,
        tiled=tiled,
        samples_per_pixel=spp,
        planar_configuration=planar,
        bits_per_sample=bits,
        sample_format=sample_format,
        dtype=dtype,
        compression=compression,
        predictor=val.one(Tag.PREDICTOR, 1),
        photometric=photometric,
        offsets=offsets,
        byte_counts=counts,
        jpeg_tables=val.raw(Tag.JPEG_TABLES) if compression == Compression.JPEG else None,
        lerc_parameters=None if lerc is None else tuple(int(v) for v in lerc.tolist()),
        byte_order=fmt.order,
        subfile_type=val.one(Tag.NEW_SUBFILE_TYPE, 0),
        extra_samples=() if extra is None else tuple(int(v) for v in extra.tolist()),
    )


def _uniform(values: list[int], name: str, where: str) -> int:
    if any(v != values[0] for v in values):
        raise UnsupportedTiffError(f"{where}: samples with different {name} {values[:8]}")
    return values[0]


def _table(val: _Values, tag: int, expected: int, where: str) -> np.ndarray:
    arr = val.array(tag)
    name = Tag(tag).name
    if arr is None:
        raise TiffFormatError(f"{where}: required tag {name} is missing")
    if arr.dtype.kind not in "ui":
        raise TiffFormatError(f"{where}: {name} has non-integer type {arr.dtype}")
    if len(arr) < expected:
        raise TiffFormatError(f"{where}: {name} lists {len(arr)} blocks, the image has {expected}")
    table = arr[:expected]
    if table.dtype.kind == "i" and len(table) and int(table.min()) < 0:
        raise TiffFormatError(f"{where}: {name} holds negative values")
    return table.astype(np.uint64)
