"""Bytes from anywhere: route a URL to an obstore store and read ranges with retries.

A :class:`Backend` owns one store per bucket / container / origin and is shared by every read
in a process (:func:`default_backend`). It decides, per store, whether to sign (credentials
configured or found, requester pays, ``requires_auth``) or stay anonymous, and recovers once
from the two failures that have a known cure: a wrong S3 region (rebuilt with the bucket's real
region) and refused credentials from a provider (fetched again). Errors are mapped to
:mod:`rasteret.errors` with the URL redacted; no secret ever appears in a message or repr.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

import obstore
from obstore.store import AzureStore, GCSStore, HTTPStore, LocalStore, S3Store

from rasteret.errors import (
    AccessDeniedError,
    ConfigError,
    ObjectChangedError,
    ObjectNotFoundError,
    RasteretError,
    StorageError,
)
from rasteret.io.config import CloudConfig
from rasteret.io.credentials import describe_provider, provider_kind
from rasteret.io.error_map import AccessContext, is_auth_failure, map_store_error
from rasteret.io.region import discover_bucket_region, is_wrong_region, region_from_message
from rasteret.io.secrets import register_secret
from rasteret.io.urls import Location, parse_location, redact_url

CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": "5s",
    "timeout": "60s",
    "pool_idle_timeout": "90s",
    "pool_max_idle_per_host": "64",
}
RETRY_CONFIG: dict[str, Any] = {
    "max_retries": 4,
    "retry_timeout": timedelta(seconds=60),
    "backoff": {
        "init_backoff": timedelta(milliseconds=100),
        "max_backoff": timedelta(seconds=5),
        "base": 2,
    },
}
APP_RETRIES = 3

_SECRET_WORDS = ("key", "secret", "token", "sas", "password", "signature")
_S3_KEYS = ("access_key_id", "aws_access_key_id", "secret_access_key", "session_token", "token")
_S3_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_GCS_KEYS = ("service_account", "service_account_key", "application_credentials", "bearer_token")
_GCS_ENV = (
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
_AZURE_KEYS = (
    "access_key",
    "account_key",
    "sas_key",
    "sas_token",
    "token",
    "bearer_token",
    "client_secret",
    "use_emulator",
    "use_azure_cli",
)
_AZURE_ENV = (
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_STORAGE_USE_EMULATOR",
    "AZURE_CLIENT_SECRET",
)

T = TypeVar("T")


@dataclass(frozen=True)
class ObjectInfo:
    """Size and ETag of an object, as seen in a response."""

    size: int
    etag: str | None = None


StoreFactory = Callable[[Location], Any]


@dataclass(frozen=True)
class _Route:
    """A resolved URL: the store, the key in it, how it was reached and its cache slot."""

    store: Any
    key: str
    loc: Location
    slot: tuple[Any, ...]
    context: AccessContext
    provider: Any | None = None
    region: str | None = None
    endpoint: str | None = None


class Backend:
    """Routes URLs to obstore stores (cached) and reads byte ranges from them.

    store: when given, every URL is a key inside this one obstore store.
    cloud_config: the dataset's URL rewrites, region, requester pays, endpoint, anonymity.
    s3_config / gcs_config / azure_config: obstore config for every store of that kind
        (``azure_config["endpoint"]`` may contain ``{account}``).
    bucket_config: ``{bucket: {obstore S3 config}}`` overrides for single S3 buckets.
    credential_provider: any obstore credential provider (S3, Azure or GCS; the kind is
        detected) or a :class:`~rasteret.io.SasTokenProvider`.
    s3_credential_provider / azure_credential_provider / gcs_credential_provider: one provider
        per store kind, when several are needed.
    client_options / retry_config: obstore HTTP client and retry settings (merged over the
        defaults / replacing them).
    requires_auth: always sign; fail early with what to configure when no credentials exist.
    label: the dataset id, named in error messages.
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
        bucket_config: Mapping[str, Mapping[str, Any]] | None = None,
        credential_provider: Any | None = None,
        s3_credential_provider: Any | None = None,
        azure_credential_provider: Any | None = None,
        gcs_credential_provider: Any | None = None,
        client_options: Mapping[str, Any] | None = None,
        retry_config: Mapping[str, Any] | None = None,
        requires_auth: bool = False,
        label: str | None = None,
        store_factory: StoreFactory | None = None,
    ) -> None:
        self._single_store = store
        self.cloud_config = CloudConfig.from_value(cloud_config)
        self._s3_config = dict(s3_config or {})
        self._gcs_config = dict(gcs_config or {})
        self._azure_config = dict(azure_config or {})
        self._bucket_config = {b: dict(c) for b, c in (bucket_config or {}).items()}
        self._providers: dict[str, Any] = {}
        if credential_provider is not None:
            self._providers[provider_kind(credential_provider)] = credential_provider
        for kind, provider in (
            ("s3", s3_credential_provider),
            ("azure", azure_credential_provider),
            ("gcs", gcs_credential_provider),
        ):
            if provider is not None:
                self._providers[kind] = provider
        self._client_options = {**CLIENT_OPTIONS, **dict(client_options or {})}
        self._retry_config = dict(retry_config or RETRY_CONFIG)
        self.requires_auth = bool(requires_auth)
        self.label = label
        self._store_factory = store_factory
        self._routes: dict[tuple[Any, ...], _Route] = {}
        self._bucket_regions: dict[str, str] = {}
        self._derived: dict[str, Backend] = {}
        self._boto3: Any | None = None
        self._lock = threading.Lock()
        for config in (self._s3_config, self._gcs_config, self._azure_config):
            _register_config_secrets(config)
        for config in self._bucket_config.values():
            _register_config_secrets(config)

    def __repr__(self) -> str:
        kinds = sorted({slot[0] for slot in self._routes})
        parts = [f"stores={len(self._routes)}", f"kinds={kinds}"]
        if self.label:
            parts.insert(0, f"dataset={self.label!r}")
        if self._providers:
            names = {k: describe_provider(p) for k, p in sorted(self._providers.items())}
            parts.append(f"providers={names}")
        if self.requires_auth:
            parts.append("requires_auth=True")
        return f"Backend({', '.join(parts)})"

    # --- derived backends -----------------------------------------------------------------

    def with_dataset(
        self,
        cloud_config: CloudConfig | Mapping[str, Any] | None = None,
        *,
        requires_auth: bool = False,
        label: str | None = None,
        credential_provider: Any | None = None,
        override: bool = False,
    ) -> Backend:
        """This backend's credentials and settings plus a dataset's access recipe (cached).

        The dataset's cloud config fills what this backend's own config leaves unset; URL
        patterns are merged (this backend's win on the same prefix); with ``override=True``
        the given config wins instead (a ``cloud_config=`` passed to one call).
        ``credential_provider`` is used only for a store kind this backend has no provider
        for. When nothing changes, this backend itself is returned; otherwise the derived
        backend is cached, so every read of the dataset shares its stores.
        """
        given = CloudConfig.from_value(cloud_config)
        config = (
            _merge_cloud_configs(given, self.cloud_config)
            if override
            else _merge_cloud_configs(self.cloud_config, given)
        )
        provider = credential_provider if provider_kind_missing(self, credential_provider) else None
        if config == self.cloud_config and requires_auth <= self.requires_auth and not provider:
            return self  # nothing to add: share this backend's stores (labels alone don't count)
        key = json.dumps(
            [config.to_dict() if config else None, requires_auth, label, id(provider)],
            sort_keys=True,
            default=str,
        )
        with self._lock:
            derived = self._derived.get(key)
            if derived is None:
                providers = dict(self._providers)
                if provider is not None:
                    providers[provider_kind(provider)] = provider
                derived = Backend(
                    store=self._single_store,
                    cloud_config=config,
                    s3_config=self._s3_config,
                    gcs_config=self._gcs_config,
                    azure_config=self._azure_config,
                    bucket_config=self._bucket_config,
                    s3_credential_provider=providers.get("s3"),
                    azure_credential_provider=providers.get("azure"),
                    gcs_credential_provider=providers.get("gcs"),
                    client_options=self._client_options,
                    retry_config=self._retry_config,
                    requires_auth=self.requires_auth or requires_auth,
                    label=label or self.label,
                    store_factory=self._store_factory,
                )
                self._derived[key] = derived
            return derived

    def provider_for(self, kind: str) -> Any | None:
        """The credential provider this backend uses for stores of ``kind``, if any."""
        return self._providers.get(kind)

    # --- routing --------------------------------------------------------------------------

    def rewrite(self, url: str) -> str:
        """Apply the cloud config's URL rewrites."""
        return self.cloud_config.rewrite(url) if self.cloud_config else url

    def resolve(self, url: str) -> tuple[Any, str]:
        """Return ``(store, key)`` for a URL or path."""
        route = self._route(url)
        return route.store, route.key

    def _route(self, url: str) -> _Route:
        if self._single_store is not None:
            return _Route(
                self._single_store,
                os.fspath(url),
                Location("custom", "", os.fspath(url)),
                ("custom",),
                AccessContext(kind="custom", dataset=self.label),
            )
        try:
            loc = parse_location(self.rewrite(os.fspath(url)))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        slot = (loc.kind, loc.root, loc.account, loc.region, loc.query if loc.kind != "s3" else "")
        with self._lock:
            route = self._routes.get(slot)
            if route is None:
                if self._store_factory is not None:
                    route = _Route(
                        self._store_factory(loc),
                        loc.key,
                        loc,
                        slot,
                        AccessContext(kind=loc.kind, dataset=self.label),
                    )
                else:
                    route = self._make_route(loc, slot)
                self._routes[slot] = route
        return replace(route, key=loc.key, loc=loc)

    def _evict(self, route: _Route) -> bool:
        """Drop a cached store (so the next read builds a new one); False if already replaced."""
        with self._lock:
            cached = self._routes.get(route.slot)
            if cached is not None and cached.store is route.store:
                del self._routes[route.slot]
                return True
            return False

    def _make_route(self, loc: Location, slot: tuple[Any, ...]) -> _Route:
        if loc.kind == "file":
            return _Route(LocalStore(), loc.key, loc, slot, AccessContext("file"))
        if loc.kind == "http":
            if loc.query:
                raise ConfigError(
                    f"{redact_url(loc.root + '/' + loc.key + '?' + loc.query)} carries a query "
                    "string (a signed URL?): rasteret signs requests at read time, so store "
                    "unsigned URLs (rasteret.io.unsign_url) and pass a backend with credentials"
                )
            opts = {"allow_http": loc.root.startswith("http://"), **self._client_options}
            store = HTTPStore.from_url(
                loc.root, client_options=opts, retry_config=self._retry_config
            )
            return _Route(store, loc.key, loc, slot, AccessContext("http", dataset=self.label))
        if loc.kind == "s3":
            return self._s3_route(loc, slot)
        if loc.kind == "gcs":
            return self._gcs_route(loc, slot)
        if loc.kind == "azure":
            return self._azure_route(loc, slot)
        raise ConfigError(f"no store for URL kind {loc.kind!r}")

    # --- S3 -------------------------------------------------------------------------------

    def _s3_route(self, loc: Location, slot: tuple[Any, ...]) -> _Route:
        cfg = self.cloud_config
        config: dict[str, Any] = dict(self._s3_config)
        provider = self._providers.get("s3")
        region = (
            self._bucket_regions.get(loc.root)
            or self._bucket_config.get(loc.root, {}).get("region")
            or loc.region
            or (cfg.region if cfg and cfg.provider == "aws" else None)
            or config.get("region")
            or getattr(provider, "region", None)
        )
        endpoint = self._endpoint("aws", config.get("endpoint")) or _env(
            "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"
        )
        if endpoint:
            config["endpoint"] = endpoint
            config.setdefault("virtual_hosted_style_request", False)
        requester_pays = bool(cfg and cfg.requester_pays) or _truthy(config.get("request_payer"))
        config.pop("request_payer", None)
        config.update(self._bucket_config.get(loc.root, {}))
        if _truthy(config.pop("request_payer", None)):
            requester_pays = True
        if region:
            config["region"] = region
        anonymous = cfg.anonymous if cfg and cfg.anonymous is not None else None
        if _truthy(config.get("skip_signature")):
            anonymous = True
        has_keys = any(config.get(k) for k in _S3_KEYS) or bool(_env(*_S3_ENV))
        must_sign = requester_pays or self.requires_auth
        if anonymous is None:
            anonymous = not (provider is not None or has_keys or must_sign)
        if anonymous and requester_pays:
            raise ConfigError(
                f"bucket {loc.root!r} is requester-pays, which needs signed requests, but the "
                "backend is configured as anonymous; drop anonymous / skip_signature"
            )
        credentials = None
        if anonymous:
            config["skip_signature"] = True
        else:
            config.pop("skip_signature", None)
            if requester_pays:
                config["request_payer"] = True
            if provider is None and not has_keys:
                provider = self._boto3_provider()
                if provider is None and _imds_disabled():
                    raise AccessDeniedError(self._no_credentials("s3", loc, requester_pays))
                credentials = "AWS profile (boto3)" if provider else "instance metadata"
            elif provider is None:
                credentials = (
                    "access keys from config"
                    if any(config.get(k) for k in _S3_KEYS)
                    else "AWS environment variables"
                )
        opts = _allow_http(self._client_options, config.get("endpoint"))
        kwargs = {"credential_provider": provider} if provider is not None else {}
        store = S3Store(
            loc.root, config=config, client_options=opts, retry_config=self._retry_config, **kwargs
        )
        ctx = AccessContext(
            kind="s3",
            signed=not anonymous,
            requester_pays=requester_pays and not anonymous,
            provider=describe_provider(provider) if provider is not None else None,
            credentials=credentials,
            dataset=self.label,
        )
        return _Route(store, loc.key, loc, slot, ctx, provider, region, config.get("endpoint"))

    def _boto3_provider(self) -> Any | None:
        """obstore's boto3 provider when boto3 finds credentials (profiles, SSO...), else None."""
        if self._boto3 is None:
            self._boto3 = False
            try:
                import boto3
                from obstore.auth.boto3 import Boto3CredentialProvider

                session = boto3.Session()
                if session.get_credentials() is not None:
                    self._boto3 = Boto3CredentialProvider(session)
            except Exception:  # noqa: BLE001 - boto3 missing or its chain failing: no credentials
                self._boto3 = False
        return self._boto3 or None

    # --- GCS ------------------------------------------------------------------------------

    def _gcs_route(self, loc: Location, slot: tuple[Any, ...]) -> _Route:
        config = dict(self._gcs_config)
        provider = self._providers.get("gcs")
        base_url = self._endpoint("gcs", config.get("base_url"))
        if base_url:
            config["base_url"] = base_url
        has_keys = any(config.get(k) for k in _GCS_KEYS) or bool(_env(*_GCS_ENV))
        signed = provider is not None or has_keys
        if not signed and self.requires_auth:
            raise AccessDeniedError(self._no_credentials("gcs", loc, False))
        if not signed:
            config["skip_signature"] = True
        opts = _allow_http(self._client_options, base_url)
        kwargs = {"credential_provider": provider} if provider is not None else {}
        store = GCSStore(
            loc.root, config=config, client_options=opts, retry_config=self._retry_config, **kwargs
        )
        ctx = AccessContext(
            kind="gcs",
            signed=signed,
            provider=describe_provider(provider) if provider is not None else None,
            credentials=None if provider is not None or not signed else "GCS config/environment",
            dataset=self.label,
        )
        return _Route(store, loc.key, loc, slot, ctx, provider)

    # --- Azure ----------------------------------------------------------------------------

    def _azure_route(self, loc: Location, slot: tuple[Any, ...]) -> _Route:
        config = dict(self._azure_config)
        account = loc.account or config.get("account_name") or _env("AZURE_STORAGE_ACCOUNT_NAME")
        if not account:
            raise ConfigError(
                f"{redact_url(f'az://{loc.root}/{loc.key}')} names no storage account: use "
                "https://<account>.blob.core.windows.net/<container>/<path> or az://"
                "<container>@<account>/<path>, or set azure_config={'account_name': ...}"
            )
        config["account_name"] = account
        endpoint = self._endpoint("azure", config.get("endpoint"))
        if endpoint:
            config["endpoint"] = endpoint.replace("{account}", account)
        provider = self._providers.get("azure")
        if provider is not None and hasattr(provider, "for_container"):
            provider = provider.for_container(account, loc.root)
        embedded_sas = _is_sas(loc.query) and provider is None
        if embedded_sas:
            register_secret(loc.query)
            config["sas_key"] = loc.query
        has_keys = any(config.get(k) for k in _AZURE_KEYS) or bool(_env(*_AZURE_ENV))
        signed = provider is not None or has_keys
        if not signed and self.requires_auth:
            raise AccessDeniedError(self._no_credentials("azure", loc, False))
        if not signed:
            config["skip_signature"] = True
        opts = _allow_http(self._client_options, config.get("endpoint"))
        kwargs = {"credential_provider": provider} if provider is not None else {}
        store = AzureStore(
            loc.root, config=config, client_options=opts, retry_config=self._retry_config, **kwargs
        )
        ctx = AccessContext(
            kind="azure",
            signed=signed,
            provider=describe_provider(provider) if provider is not None else None,
            credentials=(
                "the SAS token in the URL"
                if embedded_sas
                else None
                if provider is not None or not signed
                else "Azure config/environment"
            ),
            dataset=self.label,
        )
        return _Route(store, loc.key, loc, slot, ctx, provider)

    # --- shared helpers -------------------------------------------------------------------

    def _endpoint(self, provider: str, explicit: str | None) -> str | None:
        cfg = self.cloud_config
        if explicit:
            return explicit
        if cfg and cfg.endpoint and cfg.provider == provider:
            return cfg.endpoint
        return None

    def _no_credentials(self, kind: str, loc: Location, requester_pays: bool) -> str:
        scheme = {"s3": "s3", "gcs": "gs", "azure": "az"}[kind]
        where = redact_url(f"{scheme}://{loc.root}")
        if requester_pays:
            why = "is requester-pays, which needs signed requests"
        elif self.label:
            why = f"needs authentication (dataset {self.label!r} has requires_auth)"
        else:
            why = "needs authentication (requires_auth)"

        todo = {
            "s3": "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or an AWS profile with boto3 "
            "installed), or pass backend=rasteret.create_backend(credential_provider=...)",
            "gcs": "set GOOGLE_APPLICATION_CREDENTIALS or pass gcs_config / a GCS credential "
            "provider to rasteret.create_backend",
            "azure": "pass backend=rasteret.create_backend(credential_provider="
            "rasteret.io.SasTokenProvider(endpoint)) or set azure_config account_key / sas_key",
        }[kind]
        return f"{where} {why}, but no credentials were found: {todo}"

    # --- reads ----------------------------------------------------------------------------

    async def get_range(
        self, url: str, start: int, end: int, *, etag: str | None = None
    ) -> memoryview:
        """Bytes ``[start, end)`` of ``url``; with ``etag``, fail if the object changed.

        A URL that the cloud config rewrites is read from another origin than the one whose
        ETag was recorded (ETags differ between servers for the same bytes), so it is not
        compared there.
        """
        if etag is not None and self.rewrite(url) != url:
            etag = None
        if etag is None:

            async def op(store: Any, key: str) -> memoryview:
                data = await obstore.get_range_async(store, key, start=start, end=end)
                if len(data) != end - start:
                    raise _UseFullGet
                return memoryview(data)

            # One call into obstore on the hot path; a short answer is re-read with its
            # metadata below, to tell a short file from a short read.
            try:
                return await self._run(url, op)
            except _UseFullGet:
                pass
        data, _ = await self._get(url, start, end, etag=etag, exact=True)
        return data

    async def get_prefix(self, url: str, length: int) -> tuple[memoryview, ObjectInfo]:
        """The first ``length`` bytes (fewer if the object is shorter) and the object info."""
        return await self._get(url, 0, length, etag=None, exact=False)

    async def head(self, url: str) -> ObjectInfo:
        """Size and ETag of ``url``."""

        async def op(store: Any, key: str) -> ObjectInfo:
            meta = await obstore.head_async(store, key)
            return ObjectInfo(int(meta["size"]), meta.get("e_tag"))

        return await self._run(url, op)

    async def _get(
        self, url: str, start: int, end: int, *, etag: str | None, exact: bool
    ) -> tuple[memoryview, ObjectInfo]:
        options: dict[str, Any] = {"range": (start, end)}
        if etag:
            options["if_match"] = etag

        async def op(store: Any, key: str) -> tuple[memoryview, ObjectInfo]:
            result = await obstore.get_async(store, key, options=options)
            buf = await result.bytes_async()
            meta = result.meta
            info = ObjectInfo(int(meta["size"]), meta.get("e_tag"))
            data = memoryview(buf)
            if exact and end > info.size:
                raise StorageError(
                    f"range {start}-{end} is beyond the end of {redact_url(url)} "
                    f"({info.size} bytes): the file is shorter than its index says; "
                    "rebuild the collection"
                )
            want = end - start if exact else min(end, info.size) - start
            if len(data) != want:
                raise _ShortRead(f"short read: {len(data)} of {want} bytes")
            return data, info

        return await self._run(url, op)

    async def _run(self, url: str, op: Callable[[Any, str], Awaitable[T]]) -> T:
        """Run ``op(store, key)`` with one region fix, one credential refresh and retries."""
        route = self._route(url)
        fixed_region = refreshed = False
        attempt = 0
        while True:
            try:
                return await op(route.store, route.key)
            except _ShortRead as exc:
                last: StorageError = StorageError(f"reading {redact_url(url)} failed: {exc}")
            except (RasteretError, _UseFullGet):
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to our hierarchy below
                text = str(exc)
                if route.loc.kind == "s3" and not fixed_region and is_wrong_region(text):
                    fixed_region = True
                    await self._fix_region(route, url, text)
                    route = self._route(url)
                    continue
                if route.provider is not None and not refreshed and is_auth_failure(exc):
                    refreshed = True
                    self._refresh(route)
                    route = self._route(url)
                    continue
                provider_error = getattr(route.provider, "last_error", None)
                if provider_error is not None and is_auth_failure(exc):
                    raise provider_error from None
                last = map_store_error(exc, url, route.context, refreshed=refreshed)
                if not _retryable(last):
                    raise last from None
            attempt += 1
            if attempt > APP_RETRIES:
                raise last from None
            await asyncio.sleep(0.05 * 2**attempt * (1 + random.random()))

    async def _fix_region(self, route: _Route, url: str, text: str) -> None:
        bucket = route.loc.root
        region = region_from_message(text)
        if region is None:
            region = await asyncio.to_thread(discover_bucket_region, bucket, route.endpoint)
        current = route.region
        if not region or region == current:
            raise StorageError(
                f"{redact_url(url)}: S3 answered that bucket {bucket!r} is in another region "
                f"than {current or 'the default'!r} and did not say which; pass "
                "backend=rasteret.create_backend(region='<bucket region>') or set "
                "cloud_config region"
            ) from None
        with self._lock:
            self._bucket_regions[bucket] = region
        self._evict(route)

    def _refresh(self, route: _Route) -> None:
        if self._evict(route):
            invalidate = getattr(route.provider, "invalidate", None)
            if callable(invalidate):
                invalidate()


class _ShortRead(Exception):
    pass


class _UseFullGet(Exception):
    """A range answer was short: read again with metadata to say why."""


def _retryable(err: StorageError) -> bool:
    return not isinstance(err, ObjectNotFoundError | AccessDeniedError | ObjectChangedError)


def provider_kind_missing(backend: Backend, provider: Any | None) -> bool:
    """Whether ``provider`` would fill a store kind the backend has no provider for."""
    return provider is not None and backend.provider_for(provider_kind(provider)) is None


def _merge_cloud_configs(own: CloudConfig | None, other: CloudConfig | None) -> CloudConfig | None:
    """``own`` with the unset fields of ``other`` filled in and URL patterns merged.

    ``provider`` defaults to "aws", so another provider named by ``other`` counts as set.
    """
    if own is None or other is None:
        return own or other
    merged = own.to_dict()
    for name, value in other.to_dict().items():
        if name == "provider":
            merged[name] = own.provider if own.provider != "aws" else value
        elif name == "url_patterns":
            merged[name] = {**value, **own.url_patterns}
        elif name == "requester_pays":
            merged[name] = own.requester_pays or value
        elif merged.get(name) is None:
            merged[name] = value
    return CloudConfig(**merged)


def _register_config_secrets(config: Mapping[str, Any]) -> None:
    for name, value in config.items():
        if any(word in name.lower() for word in _SECRET_WORDS) and isinstance(value, str):
            register_secret(value)


def _allow_http(options: Mapping[str, Any], endpoint: str | None) -> dict[str, Any]:
    opts = dict(options)
    if endpoint and str(endpoint).startswith("http://"):
        opts["allow_http"] = True
    return opts


def _env(*names: str) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "requester")
    return bool(value)


def _imds_disabled() -> bool:
    return _truthy(os.environ.get("AWS_EC2_METADATA_DISABLED", ""))


def _is_sas(query: str) -> bool:
    return "sig=" in query and ("se=" in query or "sv=" in query)


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

    credential_provider: any obstore credential provider (S3, Azure or GCS), a
        :class:`~rasteret.io.S3CredentialsUrlProvider` or a :class:`~rasteret.io.SasTokenProvider`.
    cloud_config: URL rewrites, region, requester pays for the dataset.
    region: shorthand for ``default_s3_config={"region": region}``.
    default_s3_config: obstore S3 config applied to every S3 store (region, endpoint, keys...).
    kwargs: more :class:`Backend` options (gcs_config, azure_config, bucket_config,
        s3/azure/gcs_credential_provider, client_options, requires_auth, label...).
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
