"""Building collections: ``build`` (by dataset id), ``build_from_stac``, ``build_from_table``, and
``register_local`` to publish a built collection in the registry.

Every path produces a :class:`~rasteret.ingest.pipeline.BuildPlan` and runs the same header pass
and writer. Builds are cached in the workspace under their name; a cached collection is
returned only when every input that shapes it is unchanged (``force=True`` always rebuilds).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from rasteret.catalog.bands import BandRegistry
from rasteret.catalog.descriptor import DatasetDescriptor
from rasteret.catalog.local import save_local_descriptor
from rasteret.catalog.registry import DatasetRegistry, register
from rasteret.collection import Collection, as_collection, default_workspace, load, with_info
from rasteret.errors import BuildError, CollectionError
from rasteret.ingest import stac as stac_source
from rasteret.ingest import table as table_source
from rasteret.ingest.arrow import as_arrow, is_path_like
from rasteret.ingest.cache import build_key, canonical, safe_name, source_fingerprint
from rasteret.ingest.headers import HEADER_CONCURRENCY
from rasteret.ingest.metadata import CollectionInfo
from rasteret.ingest.normalize import parse_datetime
from rasteret.ingest.pipeline import HeaderOptions, build_table, run_build
from rasteret.ingest.plan import BuildPlan
from rasteret.io.backend import Backend, default_backend
from rasteret.io.config import CloudConfig, rewrite_url
from rasteret.io.descriptor import backend_for_descriptor
from rasteret.io.loop import run_sync
from rasteret.io.urls import redact_url, unsign_url
from rasteret.tiff.model import TiffHeader

log = logging.getLogger("rasteret")

Bbox = tuple[float, float, float, float]


# --- argument checks ----------------------------------------------------------------------------


def _check_bbox(bbox: Sequence[float] | None) -> Bbox | None:
    if bbox is None:
        return None
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise BuildError(f"bbox must be (minx, miny, maxx, maxy), got {bbox!r}") from None
    if not (minx < maxx and miny < maxy):
        raise BuildError(f"bbox must have west < east and south < north, got {bbox!r}")
    return (minx, miny, maxx, maxy)


def _check_dates(date_range: Sequence[Any] | None) -> tuple[str, str] | None:
    if date_range is None:
        return None
    if isinstance(date_range, str) or len(date_range) != 2:
        raise BuildError(f"date_range must be (start, end), got {date_range!r}")
    start = parse_datetime(date_range[0])
    end = parse_datetime(date_range[1], end_of_day=True)
    if start and end and start > end:
        raise BuildError(f"date_range starts after it ends: {date_range!r}")
    return (str(date_range[0]), str(date_range[1]))


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BuildError("name must be a non-empty string (it names the cached collection)")
    return name.strip()


def _workspace(workspace_dir: str | os.PathLike[str] | None) -> Path:
    return Path(workspace_dir).expanduser() if workspace_dir else default_workspace()


def _backend(
    backend: Backend | None,
    cloud_config: CloudConfig | Mapping[str, Any] | None,
    data_source: str,
    descriptor: DatasetDescriptor | None = None,
) -> Backend:
    """The build's backend: the user's (or the default) plus the dataset's access recipe (its
    descriptor, found by ``data_source`` when not given, else the CloudConfig registered for
    ``data_source``); a ``cloud_config`` passed to the call wins over both."""
    if descriptor is None and data_source:
        descriptor = DatasetRegistry.get(data_source)
    if descriptor is not None:
        base = backend_for_descriptor(descriptor, backend)
    else:
        base = backend if backend is not None else default_backend()
        registered = CloudConfig.get_config(data_source) if data_source else None
        if registered is not None:
            base = base.with_dataset(registered)
    config = CloudConfig.from_value(cloud_config)
    if config is not None:
        base = base.with_dataset(config, override=True)
    return base


def _stored_href(backend: Backend) -> Any:
    """href -> what a collection stores: signature parameters stripped (tokens expire and must
    never be written; reads sign again), then the dataset's URL rewrites applied."""

    def store(href: str) -> str:
        return backend.rewrite(unsign_url(href))

    return store


def _cached(target: Path, key: str, force: bool, backend: Backend) -> Collection | None:
    if force or not target.exists():
        return None
    try:
        cached = Collection.from_parquet(target)
    except CollectionError:
        return None
    if cached.info.build_key == key:
        log.info("reusing cached collection %s", target)
        return with_info(cached, cached.info, backend=backend)
    log.info("build inputs changed since %s was built; rebuilding", target)
    return None


def _run(
    plan: BuildPlan,
    target: Path | None,
    *,
    backend: Backend,
    max_concurrent: int,
    progress: bool | None,
    strict: bool,
    header_cache: MutableMapping[str, TiffHeader] | None,
) -> Collection:
    """Parse the plan's headers and write the collection to ``target`` (None: keep it in
    memory)."""
    options = HeaderOptions(
        backend=backend,
        max_concurrent=max_concurrent,
        progress=progress,
        strict=strict,
        header_cache=header_cache,
    )
    if target is None:
        info, table = build_table(plan, options)
        return with_info(as_collection(table), info, backend=backend)
    info = run_build(plan, target, options)
    return with_info(Collection.from_parquet(target), info, backend=backend)


def _info(name: str, data_source: str, inputs: dict[str, Any], key: str) -> CollectionInfo:
    """The collection facts of a build: its inputs (``kind``, redacted ``source``, ...) are
    stored for ``describe()``, except table contents' fingerprint."""
    return CollectionInfo(
        name=name,
        data_source=data_source,
        kind=inputs["kind"],
        source=inputs["source"],
        build_key=key,
        build_inputs=canonical({k: v for k, v in inputs.items() if k != "content"}),
    )


# --- STAC ---------------------------------------------------------------------------------------


def build_from_stac(
    *,
    name: str,
    stac_api: str,
    collection: str,
    data_source: str | None = None,
    band_map: dict[str, str] | None = None,
    band_index_map: dict[str, int] | None = None,
    bbox: Bbox | None = None,
    date_range: tuple[str, str] | None = None,
    workspace_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    max_concurrent: int = HEADER_CONCURRENCY,
    cloud_config: CloudConfig | Mapping[str, Any] | None = None,
    query: dict[str, Any] | str | None = None,
    backend: Backend | None = None,
    static_catalog: bool = False,
    progress: bool | None = None,
    strict: bool = False,
    header_cache: MutableMapping[str, TiffHeader] | None = None,
    _descriptor: DatasetDescriptor | None = None,
) -> Collection:
    """Search a STAC API (or crawl a static catalog), parse every asset header, cache the result.

    name: names the cached collection ``<workspace>/<name>_stac``.
    stac_api: API root URL, or with ``static_catalog=True`` a ``catalog.json`` path/URL.
    collection: STAC collection id ("" crawls every item of a static catalog).
    band_map: ``{band code: asset key}``; default: the map of a registered dataset for this
        collection, else every COG data asset under its own key.
    band_index_map: ``{band code: sample index}`` for bands stored in one multi-band file.
    query: STAC ``query`` dict, CQL2-JSON dict, CQL2 text; ``max_items`` caps the search.
    strict: fail if any asset cannot be indexed (default: keep the row, report the asset).
    header_cache: a dict shared across builds so no file is parsed twice.
    """
    name = _check_name(name)
    bbox = _check_bbox(bbox)
    date_range = _check_dates(date_range)
    if not stac_api:
        raise BuildError("stac_api is required (a STAC API URL or a catalog.json path)")
    data_source = data_source or collection
    io_backend = _backend(backend, cloud_config, data_source, _descriptor)
    given_map = dict(band_map) if band_map else None
    inputs = {
        "kind": "static" if static_catalog else "stac",
        "source": redact_url(stac_api),
        "collection": collection,
        "data_source": data_source,
        "bbox": bbox,
        "date_range": date_range,
        "query": query,
        "band_map": given_map,
        "band_index_map": band_index_map,
    }
    key = build_key(inputs)
    target = _workspace(workspace_dir) / f"{safe_name(name)}_stac"
    cached = _cached(target, key, force, io_backend)
    if cached is not None:
        return cached
    where = f"{redact_url(stac_api)} collection {collection!r}"
    if static_catalog:
        items = run_sync(
            stac_source.crawl_catalog(stac_api, io_backend, collection=collection or None)
        )
        items = stac_source.filter_items(items, bbox=bbox, date_range=date_range)
        items.sort(key=lambda i: (str(i.get("properties", {}).get("datetime")), str(i.get("id"))))
        if not items:
            raise BuildError(
                f"no item of static catalog {where} matches bbox={bbox} date_range={date_range}"
            )
    else:
        items = stac_source.search_api(
            stac_api, collection, bbox=bbox, date_range=date_range, query=query
        )
    resolved_map, resolved_index = _resolve_band_map(
        items, given_map, band_index_map, collection=collection, stac_api=stac_api, where=where
    )
    bands = stac_source.bands_from_items(
        items, resolved_map, resolved_index, rewrite=_stored_href(io_backend)
    )
    info = _info(name, data_source, {**inputs, "band_map": resolved_map}, key)
    plan = BuildPlan(stac_source.records_from_items(items), bands, info)
    return _run(
        plan,
        target,
        backend=io_backend,
        max_concurrent=max_concurrent,
        progress=progress,
        strict=strict,
        header_cache=header_cache,
    )


def _resolve_band_map(
    items: list[dict[str, Any]],
    band_map: dict[str, str] | None,
    band_index_map: dict[str, int] | None,
    *,
    collection: str,
    stac_api: str,
    where: str,
) -> tuple[dict[str, str], dict[str, int] | None]:
    """The band map to use: given (validated), a registered one that fits, or every COG asset."""
    if band_map:
        stac_source.check_band_map(band_map, items, where=where)
        return band_map, band_index_map
    present = set(stac_source.asset_keys(items))
    for candidate, index_map in _registered_maps(collection, stac_api):
        if candidate and set(candidate.values()) <= present:
            return dict(candidate), band_index_map or index_map
    cogs = stac_source.cog_asset_keys(items)
    if not cogs:
        raise BuildError(
            f"no band_map given and no asset of {where} looks like a GeoTIFF; asset keys that "
            f"exist: {stac_source.asset_keys(items)}. Pass band_map={{band: asset key}}"
        )
    return {k: k for k in cogs}, band_index_map


def _registered_maps(
    collection: str, stac_api: str
) -> list[tuple[dict[str, str], dict[str, int] | None]]:
    found = []
    descriptors = sorted(
        DatasetRegistry.list(),
        key=lambda d: (d.stac_api or "").rstrip("/") != stac_api.rstrip("/"),
    )
    for d in descriptors:
        if d.stac_collection == collection and d.band_map:
            found.append((dict(d.band_map), dict(d.band_index_map or {}) or None))
    registered = BandRegistry.get(collection)
    if registered:
        found.append((dict(registered), None))
    return found


# --- tables -------------------------------------------------------------------------------------


def build_from_table(
    path: Any,
    *,
    name: str = "",
    data_source: str = "",
    workspace_dir: str | os.PathLike[str] | None = None,
    column_map: dict[str, str] | None = None,
    href_column: str | None = None,
    band_index_map: dict[str, int] | None = None,
    url_rewrite_patterns: dict[str, str] | None = None,
    filesystem: Any | None = None,
    columns: list[str] | None = None,
    filter_expr: Any | None = None,
    enrich_cog: bool = True,
    band_codes: list[str] | None = None,
    cloud_config: CloudConfig | Mapping[str, Any] | None = None,
    max_concurrent: int = 300,
    force: bool = False,
    backend: Backend | None = None,
    band_map: dict[str, str] | None = None,
    bbox_columns: dict[str, str] | None = None,
    bbox: Bbox | None = None,
    date_range: tuple[str, str] | None = None,
    geometry_crs: Any = None,
    progress: bool | None = None,
    strict: bool = False,
    header_cache: MutableMapping[str, TiffHeader] | None = None,
    _descriptor: DatasetDescriptor | None = None,
) -> Collection:
    """Build a collection from a record table: Parquet/GeoParquet path(s) or any Arrow data.

    column_map: ``{source column: canonical}`` (canonical: id, geometry, datetime, bbox ...).
    href_column: column of COG URLs (relative paths resolve against the Parquet file's folder).
    band_index_map: ``{band code: sample index}`` inside each row's file.
    band_codes / band_map: which bands to index (band_map maps band codes to ``assets`` keys).
    bbox_columns: ``{"minx": col, "miny": col, "maxx": col, "maxy": col}`` in lon/lat.
    bbox / date_range: keep only matching rows. enrich_cog=False is not supported: every
    collection carries parsed headers.
    name: caches the result as ``<workspace>/<name>_records``; without a name the collection
    stays in memory.
    """
    if not enrich_cog:
        raise BuildError(
            "enrich_cog=False is not supported: a collection without parsed headers cannot be "
            "read without header requests; use rasteret.as_collection for read-ready tables"
        )
    bbox = _check_bbox(bbox)
    date_range = _check_dates(date_range)
    io_backend = _backend(backend, cloud_config, data_source, _descriptor)
    patterns = dict(url_rewrite_patterns or {})
    mapping = table_source.TableMapping(
        column_map=column_map,
        href_column=href_column,
        band_index_map=band_index_map,
        band_map=band_map,
        band_codes=band_codes,
        bbox_columns=bbox_columns,
        columns=columns,
        filter_expr=filter_expr,
        geometry_crs=geometry_crs,
    )
    source_label = os.fspath(path) if is_path_like(path) else f"<{type(path).__name__}>"
    inputs = {
        "kind": "table",
        "source": redact_url(source_label),
        "content": source_fingerprint(path if is_path_like(path) else as_arrow(path)),
        "data_source": data_source,
        "column_map": column_map,
        "href_column": href_column,
        "band_index_map": band_index_map,
        "band_map": band_map,
        "band_codes": band_codes,
        "bbox_columns": bbox_columns,
        "url_rewrite_patterns": patterns,
        "columns": columns,
        "filter_expr": filter_expr,
        "bbox": bbox,
        "date_range": date_range,
    }
    key = build_key(inputs)
    target = None
    if name:
        suffix = "" if name.endswith(("_records", "_stac")) else "_records"
        target = _workspace(workspace_dir) / f"{safe_name(name)}{suffix}"
        cached = _cached(target, key, force, io_backend)
        if cached is not None:
            return cached
    base_dir = None
    if is_path_like(path):
        data = table_source.read_source(path, backend=io_backend, filesystem=filesystem)
        local = Path(os.fspath(path).removeprefix("file://")).expanduser()
        if "://" not in os.fspath(path).removeprefix("file://") and filesystem is None:
            base_dir = str((local if local.is_dir() else local.parent).resolve())
    else:
        data = as_arrow(path)
    rows = table_source.load_rows(data, mapping, where=redact_url(source_label))
    stored = _stored_href(io_backend)

    def rewrite(href: str) -> str:
        return stored(rewrite_url(unsign_url(href), patterns))

    records, bands = table_source.map_rows(
        rows,
        mapping,
        rewrite=rewrite,
        base_dir=base_dir,
        where=redact_url(source_label),
        bbox=bbox,
        date_range=date_range,
    )
    info = _info(name, data_source, inputs, key)
    plan = BuildPlan(records, bands, info)
    return _run(
        plan,
        target,
        backend=io_backend,
        max_concurrent=max_concurrent,
        progress=progress,
        strict=strict,
        header_cache=header_cache,
    )


# --- by dataset id ------------------------------------------------------------------------------


def build(
    dataset: str,
    *,
    name: str,
    bbox: Bbox | None = None,
    date_range: tuple[str, str] | None = None,
    workspace_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    max_concurrent: int = HEADER_CONCURRENCY,
    query: dict[str, Any] | str | None = None,
    prefer_geoparquet: bool = False,
    stac_api: str | None = None,
    cloud_config: CloudConfig | Mapping[str, Any] | None = None,
    backend: Backend | None = None,
    progress: bool | None = None,
    strict: bool = False,
    header_cache: MutableMapping[str, TiffHeader] | None = None,
) -> Collection:
    """Build (or reuse) a collection of a registered dataset, routed by its descriptor.

    A dataset with a built collection (``collection_uri``, e.g. ``local/...``) is loaded and
    filtered by bbox/date_range; a STAC dataset is searched; a record-table dataset
    (``geoparquet_uri`` / ``record_table_uri``) is read and filtered. ``prefer_geoparquet``
    picks the record table when a dataset has both.
    """
    name = _check_name(name)
    descriptor = DatasetRegistry.require(dataset)
    method = descriptor.require_access_method()
    has_table = bool(descriptor.build_source_uri)
    if prefer_geoparquet and has_table:
        method = "record_table"
    common = {
        "workspace_dir": workspace_dir,
        "force": force,
        "max_concurrent": max_concurrent,
        "backend": backend,
        "cloud_config": cloud_config,
        "progress": progress,
        "strict": strict,
        "header_cache": header_cache,
        "_descriptor": descriptor,
    }
    if method == "collection" and not stac_api:
        collection = load(descriptor.collection_uri)
        if bbox is not None or date_range is not None:
            collection = collection.subset(bbox=_check_bbox(bbox), date_range=date_range)
        info = collection.info.with_(name=name, data_source=collection.data_source or dataset)
        return with_info(collection, info, backend=_backend(backend, cloud_config, "", descriptor))
    if method == "record_table" or (method == "collection" and has_table and not stac_api):
        return build_from_table(
            descriptor.build_source_uri,
            name=name,
            data_source=descriptor.id,
            column_map=descriptor.effective_column_map or None,
            href_column=descriptor.href_column or _role(descriptor, "href"),
            band_index_map=descriptor.band_index_map,
            band_map=descriptor.band_map if not descriptor.href_column else None,
            bbox_columns=descriptor.bbox_columns,
            bbox=bbox,
            date_range=date_range,
            **common,
        )
    api = stac_api or descriptor.stac_api
    if not descriptor.static_catalog and (bbox is None or date_range is None):
        raise BuildError(
            f"dataset {dataset!r} is searched in a STAC API: pass bbox=(minx, miny, maxx, maxy) "
            "and date_range=(start, end)"
            + (
                f", e.g. bbox={descriptor.example_bbox}, date_range={descriptor.example_date_range}"
                if descriptor.example_bbox
                else ""
            )
        )
    return build_from_stac(
        name=name,
        stac_api=api,
        collection=descriptor.stac_collection or "",
        data_source=descriptor.id,
        band_map=descriptor.band_map,
        band_index_map=descriptor.band_index_map,
        bbox=bbox,
        date_range=date_range,
        query=query,
        static_catalog=descriptor.static_catalog,
        **common,
    )


def _role(descriptor: DatasetDescriptor, canonical_name: str) -> str | None:
    roles = descriptor.field_roles or {}
    return roles.get(canonical_name)


# --- register_local -----------------------------------------------------------------------------


def register_local(
    dataset_id: str,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str = "",
    data_source: str = "",
    persist: bool = True,
    registry_path: str | os.PathLike[str] | None = None,
) -> DatasetDescriptor:
    """Register a built/exported collection under ``dataset_id`` so ``build``/``load`` find it.

    Persisted to the local registry (``~/.rasteret/datasets.local.json`` unless
    ``registry_path``) when ``persist`` is true, so later sessions know it too.
    """
    text = os.fspath(path)
    remote = "://" in text and not text.startswith("file://")
    location = Path(text.removeprefix("file://")).expanduser()
    if not remote and not location.exists():
        raise CollectionError(
            f"no collection at {location}: export one first (collection.export(path))"
        )
    collection = Collection.from_parquet(text if remote else location)
    source = data_source or collection.data_source
    start, end = collection.date_span() if len(collection) else (None, None)
    temporal = (start.date().isoformat(), end.date().isoformat()) if start and end else None
    registered = BandRegistry.get(source) if source else None
    bands = collection.bands
    band_map = (
        {b: registered[b] for b in bands}
        if registered and all(b in registered for b in bands)
        else {b: b for b in bands}
    )
    descriptor = DatasetDescriptor(
        id=dataset_id,
        name=name or collection.name or dataset_id,
        description=description,
        collection_uri=text if remote else str(location.resolve()),
        stac_collection=source or None,
        band_map=band_map or None,
        separate_files=True,
        spatial_coverage="local",
        temporal_range=temporal,
        requires_auth=False,
    )
    register(descriptor)
    if persist:
        save_local_descriptor(descriptor, registry_path)
    return descriptor


__all__ = ["as_collection", "build", "build_from_stac", "build_from_table", "register_local"]
