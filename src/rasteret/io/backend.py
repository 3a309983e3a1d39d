"""Bytes from anywhere: route a URL to an obstore store and read ranges with retries.

A :class:`Backend` owns one store per bucket / container / origin and is shared by every
read in a process (:func:`default_backend`). Errors are mapped to :mod:`rasteret.errors`
with the URL redacted (no signed query strings or keys ever appear in messages).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import obstore
from obstore import exceptions as obx
from obstore.store import AzureStore, GCSStore, HTTPStore, LocalStore, S3Store

from rasteret.errors import (
    AccessDeniedError,
    ConfigError,
    ObjectChangedError,
    ObjectNotFoundError,
    StorageError,
)
from rasteret.io.config import CloudConfig
from rasteret.io.urls import Location, parse_location, redact_url

CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": "5s",
    "timeout": "60s",
    "pool_idle_timeout": "90s",
    "pool_max_idle_per_host": "64",
}
RETRY_CONFIG: dict[str, Any] = {
    "max_retries": 4,
    "retry_timeout": "60s",
    "backoff": {"init_backoff": "100ms", "max_backoff": "5s", "base": 2},
}
APP_RETRIES = 3


@dataclass(frozen=True)
class ObjectInfo:
    """Size and ETag of an object, as seen in a response."""

    size: int
    etag: str | None = None


StoreFactory = Callable[[Location], Any]


class Backend:
    """Routes URLs to obstore stores (cached) and reads byte ranges from them.

    store: when given, every URL is a key inside this one obstore store.
    cloud_config: URL rewrites, region, requester pays and endpoint for S3.
    s3_config / gcs_config / azure_config: extra obstore config for stores of that kind.
    credential_provider: an obstore credential provider for the stores it fits.
    store_factory: replaces the built-in routing entirely (``Location -> store``).
    """

    def __init__(
        self,
        *,
        store: Any | None = None,
        cloud_config: CloudConfig | Mapping[str, Any] | None = None,
        s3_config: Mapping[str, Any] | None = None,
        gcs_config: Mapping[str, Any] | None = None,
        azure_config: Mapping[str, Any] | None = None,
        credential_provider: Any | None = None,
        client_options: Mapping[str, Any] | None = None,
        store_factory: StoreFactory | None = None,
    ) -> None:
        self._single_store = store
        self.cloud_config = CloudConfig.from_value(cloud_config)
        self._s3_config = dict(s3_config or {})
        self._gcs_config = dict(gcs_config or {})
        self._azure_config = dict(azure_config or {})
        self._credential_provider = credential_provider
        self._client_options = {**CLIENT_OPTIONS, **dict(client_options or {})}
        self._store_factory = store_factory
        self._stores: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        kinds = sorted({k[0] for k in self._stores})
        return f"Backend(stores={len(self._stores)}, kinds={kinds})"

    # --- routing ------------------------------------------------------------------------

    def rewrite(self, url: str) -> str:
        """Apply the cloud config's URL rewrites."""
        return self.cloud_config.rewrite(url) if self.cloud_config else url

    def resolve(self, url: str) -> tuple[Any, str]:
        """Return ``(store, key)`` for a URL or path."""
        if self._single_store is not None:
            return self._single_store, os.fspath(url)
        try:
            loc = parse_location(self.rewrite(os.fspath(url)))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        cache_key = (loc.kind, loc.root, loc.account, loc.region, loc.query)
        with self._lock:
            store = self._stores.get(cache_key)
            if store is None:
                factory = self._store_factory or self._make_store
                store = factory(loc)
                self._stores[cache_key] = store
        return store, loc.key

    def _make_store(self, loc: Location) -> Any:
        opts = dict(self._client_options)
        if loc.kind == "file":
            return LocalStore()
        if loc.kind == "http":
            if loc.query:
                # A signed URL: the store is the whole URL, the key is empty.
                raise ConfigError(
                    f"signed URLs are not supported yet for {redact_url(loc.root)}; "
                    "pass a backend with a credential provider instead"
                )
            opts.setdefault("allow_http", loc.root.startswith("http://"))
            return HTTPStore.from_url(loc.root, client_options=opts, retry_config=RETRY_CONFIG)
        if loc.kind == "s3":
            return S3Store(
                loc.root,
                config=self._s3_store_config(loc),
                client_options=self._with_http(opts, self._s3_endpoint()),
                retry_config=RETRY_CONFIG,
                **self._provider_kw(),
            )
        if loc.kind == "gcs":
            config = dict(self._gcs_config)
            if self._credential_provider is None and not _has_gcs_credentials(config):
                config.setdefault("skip_signature", True)
            return GCSStore(
                loc.root,
                config=config,
                client_options=opts,
                retry_config=RETRY_CONFIG,
                **self._provider_kw(),
            )
        if loc.kind == "azure":
            config = dict(self._azure_config)
            if loc.account:
                config.setdefault("account_name", loc.account)
            if self._credential_provider is None and not _has_azure_credentials(config):
                config.setdefault("skip_signature", True)
            return AzureStore(
                loc.root,
                config=config,
                client_options=opts,
                retry_config=RETRY_CONFIG,
                **self._provider_kw(),
            )
        raise ConfigError(f"no store for URL kind {loc.kind!r}")

    def _provider_kw(self) -> dict[str, Any]:
        return (
            {"credential_provider": self._credential_provider} if self._credential_provider else {}
        )

    def _s3_endpoint(self) -> str | None:
        cfg = self.cloud_config
        return (
            self._s3_config.get("endpoint")
            or (cfg.endpoint if cfg else None)
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )

    @staticmethod
    def _with_http(opts: dict[str, Any], endpoint: str | None) -> dict[str, Any]:
        if endpoint and endpoint.startswith("http://"):
            return {**opts, "allow_http": True}
        return opts

    def _s3_store_config(self, loc: Location) -> dict[str, Any]:
        cfg = self.cloud_config
        config: dict[str, Any] = {}
        region = loc.region or (cfg.region if cfg else None)
        if region:
            config["region"] = region
        endpoint = self._s3_endpoint()
        if endpoint:
            config["endpoint"] = endpoint
            config.setdefault("virtual_hosted_style_request", False)
        if cfg and cfg.requester_pays:
            config["request_payer"] = True
        config.update(self._s3_config)
        anonymous = cfg.anonymous if cfg and cfg.anonymous is not None else None
        if anonymous is None:
            anonymous = self._credential_provider is None and not _has_s3_credentials(config)
        if anonymous:
            config["skip_signature"] = True
        return config

    # --- reads --------------------------------------------------------------------------

    async def get_range(
        self, url: str, start: int, end: int, *, etag: str | None = None
    ) -> memoryview:
        """Bytes ``[start, end)`` of ``url``; with ``etag``, fail if the object changed."""
        data, _ = await self._get(url, start, end, etag=etag, exact=True)
        return data

    async def get_prefix(self, url: str, length: int) -> tuple[memoryview, ObjectInfo]:
        """The first ``length`` bytes (fewer if the object is shorter) and the object info."""
        return await self._get(url, 0, length, etag=None, exact=False)

    async def head(self, url: str) -> ObjectInfo:
        """Size and ETag of ``url``."""
        store, key = self.resolve(url)
        try:
            meta = await obstore.head_async(store, key)
        except Exception as exc:  # noqa: BLE001 - mapped to our hierarchy
            raise map_store_error(exc, url) from None
        return ObjectInfo(int(meta["size"]), meta.get("e_tag"))

    async def _get(
        self, url: str, start: int, end: int, *, etag: str | None, exact: bool
    ) -> tuple[memoryview, ObjectInfo]:
        store, key = self.resolve(url)
        options: dict[str, Any] = {"range": (start, end)}
        if etag:
            options["if_match"] = etag
        last: StorageError | None = None
        for attempt in range(APP_RETRIES + 1):
            try:
                result = await obstore.get_async(store, key, options=options)
                buf = await result.bytes_async()
                meta = result.meta
                info = ObjectInfo(int(meta["size"]), meta.get("e_tag"))
                data = memoryview(buf)
                want = min(end, info.size) - start if not exact else end - start
                if exact and end > info.size:
                    raise StorageError(
                        f"range {start}-{end} is beyond the end of {redact_url(url)} "
                        f"({info.size} bytes): the file is shorter than its index says; "
                        "rebuild the collection"
                    )
                if len(data) != want:
                    raise _ShortRead(f"short read: {len(data)} of {want} bytes")
                return data, info
            except _ShortRead as exc:
                last = StorageError(f"reading {redact_url(url)} failed: {exc}")
            except StorageError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to our hierarchy
                mapped = map_store_error(exc, url)
                if not _retryable(mapped):
                    raise mapped from None
                last = mapped
            if attempt < APP_RETRIES:
                await asyncio.sleep(0.05 * 2**attempt * (1 + random.random()))
        assert last is not None
        raise last


class _ShortRead(Exception):
    pass


def _retryable(err: StorageError) -> bool:
    return not isinstance(err, ObjectNotFoundError | AccessDeniedError | ObjectChangedError)


def _has_s3_credentials(config: Mapping[str, Any]) -> bool:
    keys = ("access_key_id", "aws_access_key_id", "session_token", "token")
    return any(config.get(k) for k in keys) or bool(os.environ.get("AWS_ACCESS_KEY_ID"))


def _has_gcs_credentials(config: Mapping[str, Any]) -> bool:
    keys = ("service_account", "service_account_key", "application_credentials")
    env = ("GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_KEY", "GOOGLE_APPLICATION_CREDENTIALS")
    return any(config.get(k) for k in keys) or any(os.environ.get(k) for k in env)


def _has_azure_credentials(config: Mapping[str, Any]) -> bool:
    keys = (
        "access_key",
        "account_key",
        "sas_key",
        "sas_token",
        "token",
        "bearer_token",
        "client_secret",
        "use_emulator",
    )
    env = (
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_KEY",
        "AZURE_STORAGE_TOKEN",
        "AZURE_STORAGE_USE_EMULATOR",
    )
    return any(config.get(k) for k in keys) or any(os.environ.get(k) for k in env)


def map_store_error(exc: BaseException, url: str) -> StorageError:
    """Translate an obstore / OS error into rasteret's hierarchy, naming the (redacted) URL."""
    where = redact_url(url)
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, obx.NotFoundError | FileNotFoundError):
        return ObjectNotFoundError(f"{where} does not exist (check the path or URL)")
    if isinstance(exc, obx.PreconditionError):
        return ObjectChangedError(
            f"{where} changed since the collection was built (ETag differs); rebuild the "
            "collection with force=True"
        )
    if isinstance(exc, obx.PermissionDeniedError | obx.UnauthenticatedError | PermissionError):
        return AccessDeniedError(
            f"access to {where} was denied: configure credentials for this store "
            "(e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or backend=create_backend(...)); "
            "for requester-pays buckets set cloud_config requester_pays=True"
        )
    text = _first_line(str(exc))
    if "403" in text or "Forbidden" in text:
        return AccessDeniedError(
            f"access to {where} was denied (HTTP 403): configure credentials for this store"
        )
    if "404" in text:
        return ObjectNotFoundError(f"{where} does not exist (HTTP 404)")
    return StorageError(f"reading {where} failed: {type(exc).__name__}: {_scrub(text)}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _scrub(text: str) -> str:
    """Drop query strings from any URL quoted inside a message."""
    import re

    return re.sub(r"(https?://[^\s?\"']+)\?[^\s\"']*", r"\1?<redacted>", text)


_default: Backend | None = None
_default_lock = threading.Lock()


def default_backend() -> Backend:
    """The process-wide backend used when a call gets none."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Backend()
        return _default


def create_backend(
    credential_provider: Any | None = None,
    cloud_config: CloudConfig | Mapping[str, Any] | None = None,
    region: str | None = None,
    default_s3_config: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Backend:
    """Build a backend to pass as ``backend=`` to builds and reads.

    credential_provider: any obstore credential provider.
    cloud_config: URL rewrites, region, requester pays for the dataset.
    region: shorthand for ``default_s3_config={"region": region}``.
    default_s3_config: obstore S3 config applied to every S3 store.
    """
    s3_config = dict(default_s3_config or {})
    if region:
        s3_config.setdefault("region", region)
    return Backend(
        credential_provider=credential_provider,
        cloud_config=cloud_config,
        s3_config=s3_config,
        **kwargs,
    )
