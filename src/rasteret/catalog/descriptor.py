"""DatasetDescriptor: a named, shareable recipe for reaching one dataset's COGs.

A descriptor says who a dataset is (id, name, licence, coverage), how to reach it (a STAC API, a
GeoParquet record table or a built collection) and how to read it (band maps, cloud config).
It is validated when constructed, stored as plain JSON-ready values, and round-trips through
``DatasetDescriptor(**json.load(f))`` exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rasteret.catalog import validate as v
from rasteret.errors import ConfigError, DescriptorError
from rasteret.io.config import CloudConfig

SURFACES = ("record_table", "index", "collection")
"""Places a dataset's metadata can live: the build source table, a narrow index, the collection."""

CONTRACT_FIELDS = ("id", "geometry", "datetime", "bbox", "assets", "proj:epsg", "collection")
"""Canonical column names of a collection, the targets of ``column_map``."""

ACCESS_METHODS = ("collection", "stac", "record_table")
"""How a descriptor can be built, in the order ``access_method`` prefers them."""

_BBOX_COLUMN_KEYS = ("minx", "miny", "maxx", "maxy")


@dataclass(frozen=True)
class DatasetDescriptor:
    """Identity, access, band mapping and licensing of one dataset.

    Only ``id`` is required, so partial descriptors (identity only, licence only) construct;
    ``name`` defaults to the id. Field order matches the reference implementation. What a
    build needs is checked by :meth:`require_access_method`.
    Mapping and tuple fields accept JSON objects and lists; ``cloud_config`` accepts a dict or a
    :class:`~rasteret.CloudConfig` and is stored as a plain dict with every known key.
    """

    # identity
    id: str
    name: str = ""
    description: str = ""
    # access
    stac_api: str | None = None
    stac_collection: str | None = None
    record_table_uri: str | None = None
    index_uri: str | None = None
    collection_uri: str | None = None
    geoparquet_uri: str | None = None
    # table normalisation and planning hints
    field_roles: dict[str, str] | None = None
    surface_fields: dict[str, list[str]] | None = None
    filter_capabilities: dict[str, list[str]] | None = None
    column_map: dict[str, str] | None = None
    href_column: str | None = None
    band_index_map: dict[str, int] | None = None
    bbox_columns: dict[str, str] | None = None
    # bands
    band_map: dict[str, str] | None = None
    separate_files: bool = True
    # coverage, licensing, authentication
    spatial_coverage: str = ""
    temporal_range: tuple[str, str] | None = None
    requires_auth: bool = False
    license: str = ""
    license_url: str = ""
    commercial_use: bool = True
    static_catalog: bool = False
    s3_credentials_url: str | None = None
    cloud_config: dict[str, Any] | None = None
    # examples and cross-references
    example_bbox: tuple[float, float, float, float] | None = None
    example_date_range: tuple[str, str] | None = None
    torchgeo_class: str | None = None
    torchgeo_verified: bool = False

    def __post_init__(self) -> None:
        try:
            ident = v.dataset_id(self.id)
            values = self._checked(ident)
        except DescriptorError as exc:
            where = self.id if isinstance(self.id, str) else "<invalid id>"
            raise DescriptorError(f"DatasetDescriptor {where!r}: {exc}") from None
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _checked(self, ident: str) -> dict[str, Any]:
        """Every field validated and normalised (tuples, plain dicts, defaults filled)."""
        out: dict[str, Any] = {"id": ident}
        out["name"] = v.text(self.name, "name") or ident
        for name in ("description", "spatial_coverage", "license"):
            out[name] = v.text(getattr(self, name), name)
        out["license_url"] = v.optional_http_url(self.license_url, "license_url") or ""
        out["s3_credentials_url"] = v.optional_http_url(
            self.s3_credentials_url, "s3_credentials_url"
        )
        for name in (
            "stac_api",
            "stac_collection",
            "record_table_uri",
            "index_uri",
            "collection_uri",
            "geoparquet_uri",
            "href_column",
            "torchgeo_class",
        ):
            out[name] = v.optional_text(getattr(self, name), name)
        for name in (
            "static_catalog",
            "separate_files",
            "commercial_use",
            "requires_auth",
            "torchgeo_verified",
        ):
            out[name] = v.flag(getattr(self, name), name)
        stac_api = out["stac_api"]
        if (
            stac_api
            and not out["static_catalog"]
            and not stac_api.startswith(("http://", "https://"))
        ):
            raise v.fail(
                "stac_api",
                f"must be an http(s) URL of a STAC API, got {stac_api!r}; for a static "
                "catalog.json path set static_catalog=True",
            )
        out["field_roles"] = v.string_map(self.field_roles, "field_roles", what="canonical: source")
        out["column_map"] = v.string_map(self.column_map, "column_map", what="source: canonical")
        out["band_map"] = v.string_map(self.band_map, "band_map", what="band code: asset key")
        out["band_index_map"] = v.index_map(self.band_index_map, "band_index_map")
        out["bbox_columns"] = _bbox_columns(self.bbox_columns)
        out["surface_fields"] = v.list_map(self.surface_fields, "surface_fields", SURFACES)
        out["filter_capabilities"] = v.list_map(
            self.filter_capabilities, "filter_capabilities", SURFACES
        )
        if out["band_map"] and out["band_index_map"]:
            extra = sorted(set(out["band_index_map"]) - set(out["band_map"]))
            if extra:
                raise v.fail(
                    "band_index_map",
                    f"band codes {extra} are not in band_map (which has "
                    f"{sorted(out['band_map'])}); add them to band_map or remove them",
                )
        out["temporal_range"] = v.date_range(self.temporal_range, "temporal_range")
        out["example_date_range"] = v.date_range(self.example_date_range, "example_date_range")
        out["example_bbox"] = v.bbox(self.example_bbox, "example_bbox")
        out["cloud_config"] = _cloud_config(self.cloud_config)
        return out

    def __hash__(self) -> int:
        return hash(self.id)

    # --- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (tuples become lists)."""
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in fields(self)  # keep declaration order; json.dump may sort
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetDescriptor:
        """Build from a dict such as one written by :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise DescriptorError(
                f"a dataset descriptor must be a JSON object, got {type(data).__name__}"
            )
        known = cls.field_names()
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise DescriptorError(
                f"DatasetDescriptor {data.get('id', '<no id>')!r}: unknown field(s) {unknown}; "
                f"known fields: {list(known)}"
            )
        if "id" not in data:
            raise DescriptorError("DatasetDescriptor: field 'id' is required")
        return cls(**dict(data))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every descriptor field, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: Any) -> DatasetDescriptor:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # --- access ------------------------------------------------------------------------------

    @property
    def build_source_uri(self) -> str | None:
        """The record table a build reads: record_table_uri, else index_uri, else geoparquet_uri."""
        return self.record_table_uri or self.index_uri or self.geoparquet_uri

    @property
    def runtime_index_uri(self) -> str | None:
        """The narrow index used to plan reads: index_uri, else geoparquet_uri, else record table."""
        return self.index_uri or self.geoparquet_uri or self.record_table_uri

    @property
    def access_methods(self) -> tuple[str, ...]:
        """Every way this dataset can be built, from ``ACCESS_METHODS``, preferred first."""
        available = {
            "collection": bool(self.collection_uri),
            "stac": bool(self.stac_api and (self.stac_collection or self.static_catalog)),
            "record_table": bool(self.build_source_uri),
        }
        return tuple(m for m in ACCESS_METHODS if available[m])

    @property
    def access_method(self) -> str | None:
        """The preferred access method ('collection', 'stac', 'record_table'), or None."""
        methods = self.access_methods
        return methods[0] if methods else None

    def require_access_method(self) -> str:
        """The preferred access method; raises DescriptorError saying what to set if none."""
        method = self.access_method
        if method is not None:
            return method
        if self.stac_api:
            raise DescriptorError(
                f"dataset {self.id!r} cannot be built: stac_api is set but stac_collection is "
                "missing; set stac_collection (or static_catalog=True for a catalog.json)"
            )
        raise DescriptorError(
            f"dataset {self.id!r} cannot be built: it has no access method. Set stac_api and "
            "stac_collection (STAC API), record_table_uri / geoparquet_uri (GeoParquet record "
            "table) or collection_uri (a built collection)"
        )

    # --- columns -----------------------------------------------------------------------------

    @property
    def effective_column_map(self) -> dict[str, str]:
        """``{source column: canonical column}`` from column_map plus field_roles' contract fields."""
        mapping = dict(self.column_map or {})
        for canonical, source in (self.field_roles or {}).items():
            if canonical in CONTRACT_FIELDS and source != canonical:
                mapping.setdefault(source, canonical)
        return mapping

    def source_field(self, canonical: str) -> str:
        """The source column backing a canonical field (field_roles, column_map, href_column)."""
        if self.field_roles and canonical in self.field_roles:
            return self.field_roles[canonical]
        for source, target in (self.column_map or {}).items():
            if target == canonical:
                return source
        if canonical == "href" and self.href_column:
            return self.href_column
        return canonical

    def surface_has_field(self, surface: str, canonical: str) -> bool:
        """Whether a surface carries a canonical field (declared, else the collection contract)."""
        _check_surface(surface)
        if self.surface_fields and surface in self.surface_fields:
            return canonical in self.surface_fields[surface]
        if canonical == "href":
            return surface != "collection" and self.source_field("href") != "href"
        return canonical in CONTRACT_FIELDS[:5]

    def surface_supports_filter(self, surface: str, capability: str) -> bool:
        """Whether a filter ('bbox', 'datetime', 'id', a column) can be pushed to a surface."""
        _check_surface(surface)
        if self.filter_capabilities and surface in self.filter_capabilities:
            return capability in self.filter_capabilities[surface]
        if capability == "bbox" and self.bbox_columns and surface != "collection":
            return True
        return self.surface_has_field(surface, capability)


def _check_surface(surface: str) -> None:
    if surface not in SURFACES:
        raise DescriptorError(f"unknown surface {surface!r}; surfaces are {list(SURFACES)}")


def _bbox_columns(value: Any) -> dict[str, str] | None:
    columns = v.string_map(value, "bbox_columns", what="bound: column name")
    if columns is None:
        return None
    if set(columns) != set(_BBOX_COLUMN_KEYS):
        raise v.fail(
            "bbox_columns",
            f"keys must be exactly {list(_BBOX_COLUMN_KEYS)}, got {sorted(columns)}",
        )
    return columns


def _cloud_config(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        config = CloudConfig.from_value(value)
    except ConfigError as exc:
        raise v.fail("cloud_config", str(exc)) from None
    assert config is not None
    return config.to_dict()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(x) for x in value]
    if isinstance(value, dict):
        return {k: _jsonable(x) for k, x in value.items()}
    return value
