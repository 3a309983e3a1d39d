"""STAC sources: API searches (pystac-client, paged), static catalogs (crawled concurrently), and
turning items into a :class:`~rasteret.ingest.pipeline.BuildPlan`.

Items become rows (properties flattened to columns, stac-geoparquet style); each band of the
band map becomes a :class:`~rasteret.ingest.pipeline.BandSource` with the asset's href per item.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pyarrow as pa
import shapely
from obstore.store import LocalStore

from rasteret.errors import BuildError, ObjectNotFoundError, RasteretError, StacError, StorageError
from rasteret.ingest.normalize import (
    TIMESTAMP,
    bbox_from_values,
    column_from_values,
    parse_datetime,
)
from rasteret.ingest.plan import BandSource
from rasteret.ingest.schema import BAND_SUFFIX, BBOX, COLLECTION, DATETIME, GEOMETRY, ID
from rasteret.io.backend import Backend
from rasteret.io.urls import redact_url

STAC_TIMEOUT = (5.0, 30.0)  # connect, read (seconds): an unreachable API fails fast
TIMEOUT_ENV = "RASTERET_STAC_TIMEOUT"  # overrides the read timeout (seconds)
PAGE_SIZE = 500
MAX_JSON_BYTES = 64 << 20
CRAWL_CONCURRENCY = 32
_RESERVED = {ID, DATETIME, GEOMETRY, BBOX, COLLECTION, "assets", "year", "month"}
_TIFF_SUFFIXES = (".tif", ".tiff")


# --- date/bbox search parameters ---------------------------------------------------------------


def datetime_interval(date_range: Sequence[Any] | None) -> str | None:
    """STAC ``datetime`` interval; a date-only end covers that whole day."""
    if date_range is None:
        return None
    start = parse_datetime(date_range[0])
    end = parse_datetime(date_range[1], end_of_day=True)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    return f"{start.strftime(fmt) if start else '..'}/{end.strftime(fmt) if end else '..'}"


def split_query(query: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """pystac-client search keywords from rasteret's ``query``.

    Accepts a STAC ``query`` dict (``{"eo:cloud_cover": {"lt": 20}}``), a CQL2-JSON filter
    (a dict with ``op``), a CQL2-text string, or a dict with ``filter`` / ``filter_lang`` /
    ``sortby`` keys; ``max_items`` caps the number of items.
    """
    if query is None:
        return {}
    if isinstance(query, str):
        return {"filter": query, "filter_lang": "cql2-text", "method": "GET"}
    if not isinstance(query, Mapping):
        raise BuildError(f"query must be a dict or a CQL2 text filter, got {type(query).__name__}")
    q = dict(query)
    out: dict[str, Any] = {}
    if "max_items" in q:
        out["max_items"] = int(q.pop("max_items"))
    if "sortby" in q:
        out["sortby"] = q.pop("sortby")
    if "filter" in q:
        out["filter"] = q.pop("filter")
        lang = q.pop("filter_lang", q.pop("filter-lang", None))
        if isinstance(out["filter"], str):
            out["filter_lang"] = lang or "cql2-text"
            out["method"] = "GET"
        else:
            out["filter_lang"] = lang or "cql2-json"
    elif "op" in q and "args" in q:
        out["filter"] = q
        out["filter_lang"] = "cql2-json"
        return out
    if q:
        out["query"] = q
    return out


# --- STAC API ------------------------------------------------------------------------------------


def search_api(
    stac_api: str,
    collection: str,
    *,
    bbox: Sequence[float] | None = None,
    date_range: Sequence[Any] | None = None,
    query: Mapping[str, Any] | str | None = None,
    timeout: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    """Every item of ``collection`` matching the search, following pages.

    timeout: (connect, read) seconds; default 5 s / 30 s, read overridable with
    ``$RASTERET_STAC_TIMEOUT``.
    """
    from pystac_client import Client

    where = redact_url(stac_api)
    timeout = timeout or _timeout()
    try:
        client = Client.open(stac_api, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the API is a StacError
        raise StacError(
            f"cannot open the STAC API at {where}: {_short(exc)}; check the URL and that the "
            "server is reachable"
        ) from None
    params: dict[str, Any] = {"collections": [collection], "limit": PAGE_SIZE}
    if bbox is not None:
        params["bbox"] = list(bbox)
    interval = datetime_interval(date_range)
    if interval:
        params["datetime"] = interval
    params.update(split_query(query))
    if params.get("max_items"):
        params["limit"] = min(PAGE_SIZE, params["max_items"])
    try:
        items = list(client.search(**params).items_as_dicts())
    except Exception as exc:  # noqa: BLE001
        raise StacError(f"STAC search at {where} failed: {_short(exc)}") from None
    if not items:
        _check_collection(client, collection, where)
        raise BuildError(
            f"the STAC search at {where} for collection {collection!r} returned no items "
            f"(bbox={bbox}, date_range={date_range}, query={query}); widen the search"
        )
    return items


def _timeout() -> tuple[float, float]:
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return STAC_TIMEOUT
    try:
        read = float(raw)
    except ValueError:
        raise BuildError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    return (min(STAC_TIMEOUT[0], read), read)


def _check_collection(client: Any, collection: str, where: str) -> None:
    try:
        ids = [c.id for c in client.get_collections()]
    except Exception:  # noqa: BLE001 - only used to improve the message
        return
    if collection not in ids:
        raise StacError(
            f"collection {collection!r} does not exist at {where}; collections there: "
            f"{sorted(ids)[:50]}"
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}"


# --- static catalogs -----------------------------------------------------------------------------


def _join(base: str, href: str) -> str:
    """Resolve a link href against the URL or path of the document holding it."""
    if "://" in href or href.startswith("/"):
        return href
    if "://" in base:
        return urljoin(base, href)
    return posixpath.normpath(posixpath.join(posixpath.dirname(os.path.abspath(base)), href))


def _reads_disk(backend: Backend, root: str) -> bool:
    """Whether ``backend`` reads local paths straight from the disk (not a custom store)."""
    if "://" in root and not root.startswith("file://"):
        return False
    store, _ = backend.resolve(root)
    return isinstance(store, LocalStore) and store.prefix is None


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    return None if "://" in url else Path(url).expanduser()


async def _fetch_json(url: str, backend: Backend, *, from_disk: bool = False) -> dict[str, Any]:
    """One catalog node. With ``from_disk``, local paths are read directly: item files are
    small, and a read through the object store's thread pool costs several times the read."""
    local = _local_path(url) if from_disk else None
    if local is not None:
        try:
            data: bytes | memoryview = local.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{local} does not exist (check the path or URL)") from None
        except OSError as exc:
            raise StorageError(f"cannot read {local}: {exc.strerror or exc}") from None
    else:
        data, _ = await backend.get_prefix(url, MAX_JSON_BYTES)
    try:
        return json.loads(bytes(data))
    except ValueError as exc:
        raise StacError(f"{redact_url(url)} is not valid JSON: {exc}") from None


async def crawl_catalog(
    root: str, backend: Backend, *, collection: str | None = None
) -> list[dict[str, Any]]:
    """Every item reachable from a static catalog, with absolute asset hrefs.

    collection: keep only items of the STAC Collection with this id (None keeps all).
    Catalog levels are fetched concurrently.
    """
    sem = asyncio.Semaphore(CRAWL_CONCURRENCY)
    from_disk = _reads_disk(backend, root)
    seen: set[str] = set()
    items: list[dict[str, Any]] = []
    collections_found: set[str] = set()

    async def get(url: str) -> dict[str, Any]:
        async with sem:
            try:
                return await _fetch_json(url, backend, from_disk=from_disk)
            except StacError:
                raise
            except RasteretError as exc:
                raise StacError(
                    f"cannot read static catalog node {redact_url(url)}: {exc}"
                ) from None

    async def visit(url: str, in_collection: str | None) -> None:
        if url in seen:
            return
        seen.add(url)
        doc = await get(url)
        kind = doc.get("type")
        if kind == "Feature":
            _add_item(doc, url, in_collection)
            return
        if kind == "FeatureCollection":
            for feature in doc.get("features", []):
                _add_item(feature, url, in_collection)
            return
        if kind == "Collection":
            in_collection = doc.get("id")
            collections_found.add(str(in_collection))
        tasks = []
        for link in doc.get("links", []):
            rel = link.get("rel")
            if rel in ("child", "item") and link.get("href"):
                tasks.append(visit(_join(url, link["href"]), in_collection))
        await asyncio.gather(*tasks)

    def _add_item(item: dict[str, Any], url: str, in_collection: str | None) -> None:
        item_collection = item.get("collection") or in_collection
        if collection is not None and item_collection != collection:
            return
        item = dict(item)
        item["collection"] = item_collection
        item["assets"] = {
            key: {**asset, "href": _join(url, asset["href"])}
            for key, asset in (item.get("assets") or {}).items()
            if isinstance(asset, Mapping) and asset.get("href")
        }
        items.append(item)

    await visit(root, None)
    if collection is not None and not items and collection not in collections_found:
        raise StacError(
            f"collection {collection!r} not found in static catalog {redact_url(root)}; "
            f"collections there: {sorted(collections_found)}"
        )
    return items


def filter_items(
    items: list[dict[str, Any]],
    *,
    bbox: Sequence[float] | None = None,
    date_range: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Client-side bbox / date filtering (for static catalogs)."""
    box = shapely.box(*bbox) if bbox is not None else None
    start = parse_datetime(date_range[0]) if date_range else None
    end = parse_datetime(date_range[1], end_of_day=True) if date_range else None
    kept = []
    for item in items:
        if box is not None:
            geom = item.get("geometry")
            shape = shapely.geometry.shape(geom) if geom else None
            if shape is None and item.get("bbox"):
                shape = shapely.box(*_bbox2d(item["bbox"]))
            if shape is None or not shape.intersects(box):
                continue
        if start or end:
            when = item_datetime(item)
            if when is None or (start and when < start) or (end and when > end):
                continue
        kept.append(item)
    return kept


def _bbox2d(b: Sequence[float]) -> tuple[float, float, float, float]:
    return (b[0], b[1], b[3], b[4]) if len(b) == 6 else (b[0], b[1], b[2], b[3])


def item_datetime(item: Mapping[str, Any]) -> dt.datetime | None:
    props = item.get("properties") or {}
    return parse_datetime(props.get("datetime") or props.get("start_datetime"))


# --- band maps -----------------------------------------------------------------------------------


def asset_keys(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Asset keys found in any item, in order of first appearance."""
    keys: dict[str, None] = {}
    for item in items:
        keys.update(dict.fromkeys(item.get("assets") or {}))
    return list(keys)


def cog_asset_keys(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Asset keys that look like data COGs (GeoTIFF media type or .tif href; role data if any)."""
    keys: dict[str, None] = {}
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            media = str(asset.get("type") or "").lower()
            href = str(asset.get("href") or "").split("?")[0].lower()
            roles = asset.get("roles") or []
            is_tiff = "tiff" in media or (not media and href.endswith(_TIFF_SUFFIXES))
            if is_tiff and (not roles or "data" in roles):
                keys[key] = None
    return list(keys)


def check_band_map(
    band_map: Mapping[str, str], items: Sequence[Mapping[str, Any]], *, where: str
) -> None:
    """Fail naming the missing asset keys and the ones that exist."""
    present = set(asset_keys(items))
    missing = sorted({a for a in band_map.values() if a not in present})
    if missing:
        bands = sorted(b for b, a in band_map.items() if a in missing)
        raise BuildError(
            f"band(s) {bands} map to asset key(s) {missing}, which no item of {where} has; "
            f"asset keys that exist: {asset_keys(items)}. Fix band_map"
        )


def bands_from_items(
    items: Sequence[Mapping[str, Any]],
    band_map: Mapping[str, str],
    band_index_map: Mapping[str, int] | None,
    *,
    rewrite: Any = None,
) -> list[BandSource]:
    """One BandSource per band code: the asset's href in every item (None where missing)."""
    by_asset: dict[str, list[str]] = {}
    for band, asset in band_map.items():
        by_asset.setdefault(asset, []).append(band)
    shared = {a: b for a, b in by_asset.items() if len(b) > 1}
    if shared and not band_index_map:
        raise BuildError(
            f"several bands map to one asset ({shared}): pass band_index_map to say which "
            "sample of the multi-band file each band is, e.g. {'R': 0, 'G': 1, 'B': 2}"
        )
    index_map = dict(band_index_map or {})
    unknown = sorted(set(index_map) - set(band_map))
    if unknown:
        raise BuildError(
            f"band_index_map names band(s) {unknown} that are not in band_map {list(band_map)}"
        )
    sources = []
    for band, asset in band_map.items():
        owner = by_asset[asset][0]
        hrefs: list[str | None] = []
        missing: list[str | None] = []
        nodata: list[float | None] = []
        scale: list[float | None] = []
        offset: list[float | None] = []
        index = int(index_map.get(band, 0))
        for item in items:
            a = (item.get("assets") or {}).get(asset)
            if not a or not a.get("href"):
                hrefs.append(None)
                missing.append(
                    f"item has no asset {asset!r} (its assets: {list(item.get('assets') or {})})"
                )
                nodata.append(None)
                scale.append(None)
                offset.append(None)
                continue
            href = str(a["href"])
            hrefs.append(rewrite(href) if rewrite else href)
            missing.append(None)
            rb = _raster_band(a, index)
            nodata.append(_number(rb.get("nodata")))
            scale.append(_number(rb.get("scale")))
            offset.append(_number(rb.get("offset")))
        sources.append(
            BandSource(
                code=band,
                hrefs=hrefs,
                band_index=index,
                header_of=owner if owner != band else None,
                nodata=nodata,
                scale=scale,
                offset=offset,
                missing=missing,
            )
        )
    return sources


def _raster_band(asset: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    bands = asset.get("raster:bands")
    if isinstance(bands, list) and bands:
        chosen = bands[index] if index < len(bands) else bands[0]
        return chosen if isinstance(chosen, Mapping) else {}
    return {}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- items -> records ----------------------------------------------------------------------------


def records_from_items(items: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows of id, datetime, geometry (WKB), bbox, collection and flattened properties."""
    ids, times, geoms, boxes, colls = [], [], [], [], []
    props: dict[str, list[Any]] = {}
    n = len(items)
    for i, item in enumerate(items):
        ids.append(str(item.get("id")))
        times.append(item_datetime(item))
        geom = item.get("geometry")
        geoms.append(shapely.geometry.shape(geom).wkb if geom else None)
        boxes.append(_bbox2d(item["bbox"]) if item.get("bbox") else None)
        colls.append(item.get("collection"))
        for key, value in (item.get("properties") or {}).items():
            if key == "datetime":
                continue
            name = f"properties.{key}" if key in _RESERVED or key.endswith(BAND_SUFFIX) else key
            column = props.get(name)
            if column is None:
                column = props[name] = [None] * n
            column[i] = value
    columns: dict[str, pa.Array] = {
        ID: pa.array(ids, pa.string()),
        DATETIME: pa.array(times, TIMESTAMP),
        GEOMETRY: pa.array(geoms, pa.binary()),
        BBOX: bbox_from_values(boxes),
        COLLECTION: pa.array(colls, pa.string()),
    }
    for name, values in props.items():
        columns[name] = _property_column(name, values)
    return pa.table(columns)


_DATE_PROPERTIES = {"start_datetime", "end_datetime", "created", "updated"}


def _property_column(name: str, values: list[Any]) -> pa.Array:
    if name in _DATE_PROPERTIES:
        try:
            return pa.array([parse_datetime(v) for v in values], TIMESTAMP)
        except (RasteretError, TypeError):
            pass
    return column_from_values(values)
