"""What a pixel read needs to know about one record, rebuilt from collection rows with no I/O.

The contract between collections (which store parsed headers in Parquet) and reads (which plan
byte ranges from them). A :class:`RecordRef` is one scene; each requested band is a
:class:`BandRef` pointing at a file, the sample inside it, and that file's parsed header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rasteret.tiff.model import TiffHeader


@dataclass(frozen=True, eq=False)
class BandRef:
    """One band of one record.

    url: where the file is (already rewritten by url_patterns at build time).
    header: the file's parsed header (layouts of all images, masks, georeferencing, size, ETag).
    band_index: 0-based sample index inside the file.
    nodata / scale / offset: effective values for this band (header, overridden by STAC raster:bands).
    """

    url: str
    header: TiffHeader
    band_index: int = 0
    nodata: float | None = None
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, eq=False)
class RecordRef:
    """One record (scene) of a collection with the bands a read asked for.

    geometry: footprint as WKB in OGC:CRS84; bbox: (xmin, ymin, xmax, ymax) in CRS84.
    properties: flattened STAC properties and user columns (e.g. ``eo:cloud_cover``, ``split``).
    """

    record_id: str
    datetime: dt.datetime | None
    geometry: bytes | None
    bbox: tuple[float, float, float, float] | None
    bands: Mapping[str, BandRef]
    collection: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
