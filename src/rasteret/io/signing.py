"""Signed access to Azure Blob (Planetary Computer style): SAS tokens fetched at read time.

A :class:`SasTokenProvider` asks a token endpoint for a per-container SAS token
(``GET {endpoint}/{account}/{container}`` answering ``{"token": ..., "msft:expiry": ...}``,
Planetary Computer's shape), caches it and fetches a new one before it expires. The backend
asks it for one obstore credential provider per container (:meth:`SasTokenProvider.for_container`),
so hrefs stay unsigned in collections and every read is signed with a current token.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from rasteret.errors import ConfigError, RasteretError, StorageError
from rasteret.io.credentials import RefreshingCredential, parse_expiry
from rasteret.io.fetch import fetch_json
from rasteret.io.secrets import register_secret
from rasteret.io.urls import redact_url

PLANETARY_COMPUTER_SAS_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"

TokenFetcher = Callable[[str, str], tuple[str, datetime | None]]
"""``(account, container) -> (sas_token, expires_at)``: a user-supplied token source."""


class SasTokenProvider:
    """Per-container SAS tokens from a token endpoint or a callable, for Azure stores.

    endpoint: token service root; tokens come from ``{endpoint}/{account}/{container}``.
    fetch: instead of an endpoint, a callable ``(account, container) -> (token, expires_at)``.
    subscription_key: sent as ``Ocp-Apim-Subscription-Key`` (Planetary Computer's header).
    headers: more headers for the token endpoint.
    refresh_margin: seconds before expiry to fetch a new token (default 300, at most 1/4 of
        the token's life).
    """

    kind: ClassVar[str] = "azure"

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        fetch: TokenFetcher | None = None,
        subscription_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        refresh_margin: float | None = None,
    ) -> None:
        if (endpoint is None) == (fetch is None):
            raise ConfigError("SasTokenProvider needs exactly one of endpoint= or fetch=")
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"SAS token endpoint must be an http(s) URL, got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self._fetch = fetch
        self._headers = dict(headers or {})
        if subscription_key:
            self._headers["Ocp-Apim-Subscription-Key"] = subscription_key
        register_secret(subscription_key, *self._headers.values())
        self._timeout = timeout
        self._margin = refresh_margin
        self._containers: dict[tuple[str, str], ContainerSas] = {}
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        source = redact_url(self.endpoint) if self.endpoint else "a token callable"
        return f"{type(self).__name__}({source})"

    def __repr__(self) -> str:
        source = redact_url(self.endpoint) if self.endpoint else "<callable>"
        return f"{type(self).__name__}(endpoint={source!r}, containers={len(self._containers)})"

    @property
    def fetch_count(self) -> int:
        """How many tokens were fetched so far, over all containers."""
        return sum(c.fetch_count for c in list(self._containers.values()))

    def for_container(self, account: str, container: str) -> ContainerSas:
        """The obstore credential provider for one container (shared per container)."""
        with self._lock:
            provider = self._containers.get((account, container))
            if provider is None:
                provider = ContainerSas(self, account, container, refresh_margin=self._margin)
                self._containers[(account, container)] = provider
            return provider

    def token(self, account: str, container: str) -> str:
        """A current SAS token for ``account``/``container`` (cached)."""
        return self.for_container(account, container)()["sas_token"]

    def fetch_token(self, account: str, container: str) -> tuple[str, datetime | None]:
        """Ask the endpoint (or callable) for a fresh token; no caching here."""
        what = f"fetching a SAS token for {account}/{container} ({self.description})"
        if self._fetch is not None:
            try:
                token, expires_at = self._fetch(account, container)
            except RasteretError:
                raise
            except (OSError, ValueError, KeyError) as exc:
                raise StorageError(f"{what} failed: {type(exc).__name__}") from None
            return str(token).lstrip("?"), expires_at
        assert self.endpoint is not None
        url = f"{self.endpoint}/{quote(account)}/{quote(container)}"
        data = fetch_json(
            url,
            what=what,
            headers=self._headers,
            timeout=self._timeout,
            hint="Check the subscription key or the token endpoint's access rules.",
        )
        token = data.get("token") or data.get("sas_token")
        if not isinstance(token, str) or not token:
            raise StorageError(f"{what}: the answer has no 'token' field")
        expiry = data.get("msft:expiry") or data.get("expiry") or data.get("expires_at")
        return token.lstrip("?"), parse_expiry(expiry, self.description) if expiry else None


class ContainerSas(RefreshingCredential):
    """The obstore Azure credential provider of one container, backed by a SasTokenProvider."""

    kind: ClassVar[str] = "azure"

    def __init__(
        self,
        parent: SasTokenProvider,
        account: str,
        container: str,
        *,
        refresh_margin: float | None = None,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin)
        self.parent = parent
        self.account = account
        self.container = container

    @property
    def description(self) -> str:
        return f"{self.parent.description} for {self.account}/{self.container}"

    def __repr__(self) -> str:
        return f"ContainerSas({self.account!r}, {self.container!r})"

    def _fetch(self) -> tuple[dict[str, Any], datetime | None]:
        token, expires_at = self.parent.fetch_token(self.account, self.container)
        return {"sas_token": token}, expires_at


class PlanetaryComputerTokenProvider(SasTokenProvider):
    """SAS tokens from Microsoft Planetary Computer's token API.

    endpoint defaults to ``PC_SDK_SAS_URL`` or the public token API; ``subscription_key``
    defaults to ``PC_SDK_SUBSCRIPTION_KEY`` (without one, the API may throttle).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        subscription_key: str | None = None,
        timeout: float = 15.0,
        refresh_margin: float | None = None,
    ) -> None:
        super().__init__(
            endpoint or os.environ.get("PC_SDK_SAS_URL") or PLANETARY_COMPUTER_SAS_URL,
            subscription_key=subscription_key or os.environ.get("PC_SDK_SUBSCRIPTION_KEY"),
            timeout=timeout,
            refresh_margin=refresh_margin,
        )
