"""RasterAccessor: one record of a collection as the reference's per-record handle.

``Collection.iterate_rasters()`` yields one per row. It carries the record's facts (id, date,
footprint, assets), the parsed header of each band (no request needed) and async reads of the
record's pixels, which go through :mod:`rasteret.read` like collection reads do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from rasteret.errors import ConfigError
from rasteret.records import RecordRef
from rasteret.tiff.model import TiffHeader


class RasterAccessor:
    """One record (scene) and the bands it was asked for.

    id / datetime / bbox ([xmin, ymin, xmax, ymax] in lon/lat) / footprint (WKB, lon/lat) /
    crs (EPSG code of the first band's raster, or None) / cloud_cover / collection /
    assets (``{band: {"href", "band_index"}}``): the record's facts.
    record: the :class:`~rasteret.records.RecordRef` behind it.
    """

    def __init__(self, record: RecordRef, data_source: str = "", backend: Any = None) -> None:
        self.record = record
        self.data_source = data_source
        self._backend = backend
        self.id = record.record_id
        self.datetime = record.datetime
        self.bbox = list(record.bbox) if record.bbox else []
        self.footprint = record.geometry
        self.cloud_cover = record.properties.get("eo:cloud_cover") or 0
        self.collection = record.collection or data_source
        self.assets = {
            band: {"href": ref.url, "band_index": ref.band_index}
            for band, ref in record.bands.items()
        }
        self.crs = _epsg(record)

    def __repr__(self) -> str:
        return f"RasterAccessor({self.id!r}, {self.datetime}, bands={self.available_bands})"

    @property
    def available_bands(self) -> list[str]:
        """Bands of this record with a parsed header."""
        return list(self.record.bands)

    @property
    def geometry(self) -> bytes | None:
        """Same as ``footprint``."""
        return self.footprint

    @property
    def headers(self) -> dict[str, TiffHeader]:
        """The parsed header of each band's file."""
        return {band: ref.header for band, ref in self.record.bands.items()}

    def intersects(self, geometry: Any) -> bool:
        """Whether this record's bbox overlaps ``geometry``'s (a shapely geometry or an
        (xmin, ymin, xmax, ymax) tuple, in lon/lat)."""
        if not self.bbox:
            return False
        if isinstance(geometry, Sequence) and len(geometry) == 4:
            other = tuple(float(v) for v in geometry)
        else:
            other = tuple(shapely.bounds(geometry))
        xmin, ymin, xmax, ymax = self.bbox
        return xmax >= other[0] and xmin <= other[2] and ymax >= other[1] and ymin <= other[3]

    def try_get_band_cog_metadata(
        self, band_code: str
    ) -> tuple[TiffHeader | None, str | None, int | None]:
        """``(header, url, band_index)`` of ``band_code``, or ``(None, None, None)`` when this
        record has no header for it."""
        ref = self.record.bands.get(band_code)
        if ref is None:
            return None, None, None
        return ref.header, ref.url, ref.band_index

    async def load_bands(
        self,
        geometries: Any,
        band_codes: Sequence[str],
        max_concurrent: int = 50,
        for_xarray: bool = True,
        for_numpy: bool = False,
        progress: bool = False,
        backend: Any = None,
        target_crs: Any = None,
        geometry_crs: Any = 4326,
        all_touched: bool = False,
    ) -> Any:
        """Pixels of this record inside ``geometries``: an ``xarray.Dataset`` (default), a
        NumPy array (``for_numpy=True``, as ``get_numpy``) or a GeoDataFrame
        (``for_xarray=False``)."""
        from rasteret.read import aget_gdf, aget_numpy, aget_xarray

        read = aget_numpy if for_numpy else aget_xarray if for_xarray else aget_gdf
        return await read(
            [self.record],
            geometries,
            list(band_codes),
            geometry_crs=geometry_crs,
            all_touched=all_touched,
            target_crs=target_crs,
            max_concurrent=max_concurrent,
            progress=progress,
            backend=backend if backend is not None else self._backend,
            data_source=self.data_source or None,
        )

    async def sample_points(
        self,
        *,
        points: Any,
        band_codes: Sequence[str],
        point_indices: Sequence[int] | None = None,
        max_concurrent: int = 50,
        backend: Any = None,
        geometry_crs: Any = 4326,
        method: str = "nearest",
        max_distance_pixels: int = 0,
        return_neighbourhood: str = "off",
    ) -> Any:
        """Values of ``band_codes`` at ``points`` in this record (an Arrow table as
        ``sample_points``); ``point_indices`` renumber ``point_index`` (one per point)."""
        from rasteret.read import asample_points

        if method != "nearest":
            raise ConfigError(f"method={method!r} is not supported; use method='nearest'")
        table = await asample_points(
            [self.record],
            points,
            list(band_codes),
            geometry_crs=geometry_crs,
            max_distance_pixels=max_distance_pixels,
            return_neighbourhood=return_neighbourhood,
            max_concurrent=max_concurrent,
            backend=backend if backend is not None else self._backend,
            data_source=self.data_source or None,
        )
        if point_indices is None:
            return table
        indices = np.asarray(point_indices, dtype=np.int64)
        local = table.column("point_index").to_numpy()
        if local.size and int(local.max()) >= len(indices):
            raise ConfigError(
                f"point_indices has {len(indices)} value(s) but point {int(local.max())} was "
                "sampled; pass one index per point"
            )
        position = table.schema.get_field_index("point_index")
        return table.set_column(position, "point_index", pa.array(indices[local], pa.int64()))


def _epsg(record: RecordRef) -> int | None:
    for ref in record.bands.values():
        if ref.header.crs is not None:
            return ref.header.crs.to_epsg()
    value = record.properties.get("proj:epsg")
    return int(value) if value is not None else None
