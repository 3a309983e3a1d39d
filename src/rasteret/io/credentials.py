"""Credential providers: cached, refreshed before expiry, usable directly as obstore providers.

:class:`RefreshingCredential` is the shared machinery (a lock, a cached value, a refresh margin,
``invalidate()`` for a refresh after a 403). :class:`S3CredentialsUrlProvider` fetches temporary
S3 keys from an ``s3_credentials_url`` (NASA Earthdata's JSON shape). :func:`provider_kind` tells
which store kind a provider (ours or obstore's) belongs to.
"""

from __future__ import annotations

import netrc
import os
import threading
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from rasteret.errors import AccessDeniedError, ConfigError, RasteretError, StorageError
from rasteret.io.fetch import fetch_json
from rasteret.io.secrets import register_secret
from rasteret.io.urls import redact_url

DEFAULT_REFRESH_MARGIN = 300.0
"""Refresh credentials this many seconds before they expire (capped at a quarter of their life)."""

EARTHDATA_LOGIN_HOST = "urs.earthdata.nasa.gov"


class RefreshingCredential:
    """Base of rasteret's credential providers: call it to get a current obstore credential.

    Subclasses implement :meth:`_fetch` returning ``(credential, expires_at)``. The credential is
    cached and fetched again once ``expires_at - margin`` has passed, where ``margin`` is
    ``refresh_margin`` (default 300 s) but never more than a quarter of the credential's life,
    so short-lived tokens are reused too. Thread-safe: concurrent callers share one fetch.
    """

    kind: ClassVar[str] = "s3"

    def __init__(self, *, refresh_margin: float | None = None) -> None:
        if refresh_margin is not None and refresh_margin < 0:
            raise ConfigError(f"refresh_margin must be >= 0 seconds, got {refresh_margin!r}")
        self._margin = DEFAULT_REFRESH_MARGIN if refresh_margin is None else refresh_margin
        self._lock = threading.Lock()
        self._value: dict[str, Any] | None = None
        self._refresh_at = 0.0
        self.fetch_count = 0
        self.last_error: RasteretError | None = None

    @property
    def description(self) -> str:
        """Human name of this provider for error messages (never contains a secret)."""
        return type(self).__name__

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            now = time.time()
            if self._value is None or now >= self._refresh_at:
                try:
                    credential, expires_at = self._fetch()
                except RasteretError as exc:
                    self.last_error = exc
                    raise
                self.last_error = None
                self.fetch_count += 1
                register_secret(*(v for v in credential.values() if isinstance(v, str)))
                self._value = dict(credential)
                if expires_at is None:
                    self._refresh_at = float("inf")
                    self._value["expires_at"] = None
                else:
                    life = max(0.0, expires_at.timestamp() - now)
                    self._refresh_at = expires_at.timestamp() - min(self._margin, life / 4)
                    # obstore caches a credential until expires_at: hand it our refresh time.
                    self._value["expires_at"] = datetime.fromtimestamp(self._refresh_at, UTC)
            return dict(self._value)

    def invalidate(self) -> None:
        """Forget the cached credential so the next call fetches a new one."""
        with self._lock:
            self._value = None
            self._refresh_at = 0.0

    def _fetch(self) -> tuple[dict[str, Any], datetime | None]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class S3CredentialsUrlProvider(RefreshingCredential):
    """Temporary S3 keys from an ``s3_credentials_url`` (NASA Earthdata style), as an obstore provider.

    The endpoint answers JSON ``{"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}``.
    Authentication, first found wins: ``token`` (sent as a Bearer token), the ``EARTHDATA_TOKEN``
    environment variable, ``username``/``password``, ``EARTHDATA_USERNAME``/``EARTHDATA_PASSWORD``,
    then a netrc entry (``NETRC`` or ``~/.netrc``) for the endpoint's host or the Earthdata login
    host (``login_host``, default ``EARTHDATA_HOST`` or urs.earthdata.nasa.gov), sent as basic
    auth to those hosts only, with cookies kept across the login redirects.

    region: the bucket region these keys are for (Earthdata: us-west-2); used by the backend.
    """

    kind: ClassVar[str] = "s3"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        netrc_path: str | os.PathLike[str] | None = None,
        login_host: str | None = None,
        region: str | None = None,
        timeout: float = 15.0,
        refresh_margin: float | None = None,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"s3_credentials_url must be an http(s) URL, got {url!r}")
        self.url = url
        self.region = region
        self._timeout = timeout
        self._token = token or os.environ.get("EARTHDATA_TOKEN") or None
        self._user = username or os.environ.get("EARTHDATA_USERNAME") or None
        self._password = password or os.environ.get("EARTHDATA_PASSWORD") or None
        self._netrc_path = netrc_path
        self._login_host = login_host or os.environ.get("EARTHDATA_HOST") or EARTHDATA_LOGIN_HOST
        register_secret(self._token, self._password)

    @property
    def description(self) -> str:
        return f"S3CredentialsUrlProvider({redact_url(self.url)})"

    def __repr__(self) -> str:
        return f"S3CredentialsUrlProvider(url={redact_url(self.url)!r}, auth={self.auth_method!r})"

    @property
    def auth_method(self) -> str:
        """How this provider authenticates: token, password, netrc or none."""
        if self._token:
            return "token"
        if self._user and self._password:
            return "password"
        return "netrc" if self._netrc_logins() else "none"

    def _netrc_logins(self) -> dict[str, tuple[str, str]]:
        path = self._netrc_path or os.environ.get("NETRC")
        try:
            data = netrc.netrc(os.fspath(path) if path else None)
        except (FileNotFoundError, netrc.NetrcParseError, OSError):
            return {}
        logins = {}
        for host in {urlsplit(self.url).hostname or "", self._login_host}:
            entry = data.authenticators(host)
            if entry and entry[0] and entry[2]:
                logins[host] = (entry[0], entry[2])
                register_secret(entry[2])
        return logins

    def _fetch(self) -> tuple[dict[str, Any], datetime | None]:
        headers: dict[str, str] = {}
        opener = None
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        else:
            logins = self._netrc_logins()
            if self._user and self._password:
                logins = {
                    host: (self._user, self._password)
                    for host in {urlsplit(self.url).hostname or "", self._login_host}
                }
            if not logins:
                raise AccessDeniedError(
                    f"{self.description} has no login: set EARTHDATA_TOKEN (or pass token=), "
                    f"set EARTHDATA_USERNAME/EARTHDATA_PASSWORD, or add a netrc entry for "
                    f"{self._login_host}"
                )
            opener = _basic_auth_opener(logins, self.url)
        data = fetch_json(
            self.url,
            what=f"fetching temporary S3 credentials ({self.description})",
            headers=headers,
            opener=opener,
            timeout=self._timeout,
            hint="Check EARTHDATA_TOKEN or your netrc login for this endpoint.",
        )
        return _parse_s3_credentials(data, self.description)


def _basic_auth_opener(
    logins: Mapping[str, tuple[str, str]], url: str
) -> urllib.request.OpenerDirector:
    """An opener that sends basic auth to the given hosts only and keeps cookies across redirects."""
    manager = urllib.request.HTTPPasswordMgrWithPriorAuth()
    parts = urlsplit(url)
    for host, (user, password) in logins.items():
        uris = [f"https://{host}/", f"http://{host}/"]
        if host == parts.hostname:
            uris.append(f"{parts.scheme}://{parts.netloc}/")
        for uri in uris:
            manager.add_password(None, uri, user, password, is_authenticated=True)
    return urllib.request.build_opener(
        urllib.request.HTTPBasicAuthHandler(manager), urllib.request.HTTPCookieProcessor()
    )


def _parse_s3_credentials(
    data: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], datetime | None]:
    def pick(*names: str) -> Any:
        for name in names:
            if data.get(name):
                return data[name]
        return None

    key = pick("accessKeyId", "AccessKeyId", "access_key_id")
    secret = pick("secretAccessKey", "SecretAccessKey", "secret_access_key")
    token = pick("sessionToken", "SessionToken", "session_token", "token")
    expiration = pick("expiration", "Expiration", "expires_at")
    if not (isinstance(key, str) and isinstance(secret, str)):
        raise StorageError(
            f"{source} answered without accessKeyId/secretAccessKey; expected NASA Earthdata's "
            "JSON shape {accessKeyId, secretAccessKey, sessionToken, expiration}"
        )
    expires_at = parse_expiry(expiration, source) if expiration is not None else None
    credential = {"access_key_id": key, "secret_access_key": secret, "token": token or None}
    return credential, expires_at


def parse_expiry(value: Any, source: str) -> datetime:
    """Parse an expiry (ISO 8601 string, with 'Z' or a space, or epoch seconds) as aware UTC."""
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        raise StorageError(f"{source} answered an unreadable expiry {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def seconds_left(expires_at: datetime | None) -> float:
    """Seconds until ``expires_at`` (infinite when None)."""
    if expires_at is None:
        return float("inf")
    return (expires_at - datetime.now(UTC)) / timedelta(seconds=1)


_MODULE_KINDS = {
    "obstore.auth.boto3": "s3",
    "obstore.auth.earthdata": "s3",
    "obstore.auth.planetary_computer": "azure",
    "obstore.auth.azure": "azure",
    "obstore.auth.google": "gcs",
}


def provider_kind(provider: Any) -> str:
    """Which store kind ("s3", "azure" or "gcs") a credential provider is for.

    rasteret's providers and any object with a ``kind`` attribute say so themselves; obstore's
    built-in providers are recognised by module; a provider whose ``config`` names an Azure
    account is Azure; anything else is taken as an S3 provider (the common case).
    """
    kind = getattr(provider, "kind", None)
    if kind in ("s3", "azure", "gcs"):
        return kind
    module = getattr(type(provider), "__module__", "") or ""
    if module in _MODULE_KINDS:
        return _MODULE_KINDS[module]
    config = getattr(provider, "config", None)
    if isinstance(config, Mapping) and ("account_name" in config or "container_name" in config):
        return "azure"
    return "s3"


def describe_provider(provider: Any) -> str:
    """A secret-free name for a provider, for error messages."""
    description = getattr(provider, "description", None)
    if isinstance(description, str):
        return description
    return type(provider).__name__
