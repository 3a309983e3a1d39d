"""From a dataset's access recipe to a Backend, without io knowing the catalog.

A descriptor's ``cloud_config``, ``requires_auth`` and ``s3_credentials_url`` (and, for Planetary
Computer datasets, its ``stac_api``) decide how its files are reached. Builds and reads call
:func:`backend_for_descriptor` with the descriptor (any object or mapping with those fields) and
the user's ``backend=``, and get a cached backend that combines both.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from rasteret.errors import ConfigError
from rasteret.io.backend import Backend, default_backend
from rasteret.io.config import CloudConfig
from rasteret.io.credentials import S3CredentialsUrlProvider
from rasteret.io.signing import PlanetaryComputerTokenProvider

PLANETARY_COMPUTER_HOST = "planetarycomputer.microsoft.com"
EARTHDATA_REGION = "us-west-2"

_shared: dict[tuple[str, ...], Any] = {}
_lock = threading.Lock()


def backend_for_descriptor(descriptor: Any, backend: Backend | None = None) -> Backend:
    """The backend that reads a dataset's files: ``backend`` (or the default) plus its recipe.

    descriptor: a DatasetDescriptor, or any object / mapping with ``id``, ``cloud_config``
        (dict or CloudConfig), ``requires_auth``, ``s3_credentials_url`` and optionally
        ``stac_api``; missing fields count as unset.
    backend: the user's backend; its own credentials and settings win over the dataset's.

    Adds: the cloud config (URL patterns, region, requester pays, endpoint); a cached
    :class:`S3CredentialsUrlProvider` for ``s3_credentials_url`` unless the backend has an S3
    provider; a Planetary Computer SAS token provider for datasets served by its STAC API
    unless the backend has an Azure provider; ``requires_auth`` (sign, or fail early saying
    what to configure). Repeated calls return the same backend, so reads share its stores.
    """
    dataset_id = _field(descriptor, "id")
    try:
        config = CloudConfig.from_value(_field(descriptor, "cloud_config"))
    except ConfigError as exc:
        raise ConfigError(f"dataset {dataset_id!r}: {exc}") from None
    requires_auth = bool(_field(descriptor, "requires_auth"))
    base = backend if backend is not None else default_backend()
    provider = None
    credentials_url = _field(descriptor, "s3_credentials_url")
    if credentials_url and base.provider_for("s3") is None:
        region = (config.region if config else None) or _earthdata_region(credentials_url)
        provider = _shared_provider(
            ("s3", credentials_url, region or ""),
            lambda: S3CredentialsUrlProvider(credentials_url, region=region),
        )
    elif requires_auth and _is_planetary_computer(_field(descriptor, "stac_api")):
        if base.provider_for("azure") is None:
            provider = _shared_provider(("azure", "pc"), PlanetaryComputerTokenProvider)
    return base.with_dataset(
        config,
        requires_auth=requires_auth,
        label=str(dataset_id) if dataset_id else None,
        credential_provider=provider,
    )


def _field(descriptor: Any, name: str) -> Any:
    if isinstance(descriptor, Mapping):
        return descriptor.get(name)
    return getattr(descriptor, name, None)


def _shared_provider(key: tuple[str, ...], make: Any) -> Any:
    """One provider per credentials source per process, so its cached tokens are shared."""
    with _lock:
        provider = _shared.get(key)
        if provider is None:
            provider = _shared[key] = make()
        return provider


def _earthdata_region(url: str) -> str | None:
    host = (urlsplit(url).hostname or "").lower()
    return EARTHDATA_REGION if host.endswith(("earthdata.nasa.gov", ".nasa.gov")) else None


def _is_planetary_computer(stac_api: Any) -> bool:
    if not isinstance(stac_api, str):
        return False
    return (urlsplit(stac_api).hostname or "").lower() == PLANETARY_COMPUTER_HOST
