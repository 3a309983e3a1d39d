"""What a build path produces before any header is read: records and, per band, file hrefs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from rasteret.errors import BuildError
from rasteret.ingest.metadata import CollectionInfo


@dataclass
class BandSource:
    """One band of a build: the href of its file in each row and where the band sits in it.

    header_of: another band stored in the same file (its header is stored once, there).
    nodata / scale / offset: per-row overrides (e.g. STAC ``raster:bands``), or None.
    missing: per-row reason when a row has no href for this band.
    """

    code: str
    hrefs: list[str | None]
    band_index: int = 0
    header_of: str | None = None
    nodata: list[float | None] | None = None
    scale: list[float | None] | None = None
    offset: list[float | None] | None = None
    missing: list[str | None] | None = None


@dataclass
class BuildPlan:
    """Records and bands of a build before any header is read.

    records: columns id, datetime (any date type), optional geometry (WKB, CRS84) and bbox
        (struct), optional collection, then properties and user columns.
    """

    records: pa.Table
    bands: list[BandSource]
    info: CollectionInfo = field(default_factory=CollectionInfo)

    def __post_init__(self) -> None:
        if not self.bands:
            raise BuildError("a build needs at least one band")
        n = self.records.num_rows
        for band in self.bands:
            if len(band.hrefs) != n:
                raise BuildError(f"band {band.code!r} has {len(band.hrefs)} hrefs for {n} rows")
