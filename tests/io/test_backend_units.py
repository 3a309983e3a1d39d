"""Routing and recipe decisions that need no server: provider kinds, descriptor backends,
URL signing helpers, expiry parsing and the refresh schedule of cached credentials."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from rasteret.errors import AccessDeniedError, ConfigError, StorageError
from rasteret.io import (
    PlanetaryComputerTokenProvider,
    RefreshingCredential,
    S3CredentialsUrlProvider,
    SasTokenProvider,
    backend_for_descriptor,
    create_backend,
    default_backend,
    is_signed_url,
    run_sync,
    unsign_url,
)
from rasteret.io.credentials import parse_expiry, provider_kind


class Countdown(RefreshingCredential):
    """Credentials that live ``life`` seconds; counts fetches."""

    def __init__(self, life: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.life = life

    def _fetch(self) -> tuple[dict[str, Any], datetime | None]:
        expires = datetime.now(UTC) + timedelta(seconds=self.life)
        return {"access_key_id": f"k{self.fetch_count}", "secret_access_key": "s" * 8}, expires


def test_short_lived_credentials_are_cached_and_refreshed_at_three_quarters() -> None:
    cred = Countdown(0.8)
    first = cred()
    assert cred() == first and cred.fetch_count == 1
    # obstore is told the refresh time, not the real expiry.
    assert first["expires_at"] <= datetime.now(UTC) + timedelta(seconds=0.61)
    time.sleep(0.65)
    assert cred()["access_key_id"] != first["access_key_id"] and cred.fetch_count == 2


def test_long_lived_credentials_refresh_margin_and_invalidate() -> None:
    cred = Countdown(3600, refresh_margin=60)
    value = cred()
    left = (value["expires_at"] - datetime.now(UTC)).total_seconds()
    assert 3530 < left < 3541
    cred.invalidate()
    cred()
    assert cred.fetch_count == 2


def test_negative_refresh_margin_is_refused() -> None:
    with pytest.raises(ConfigError, match="refresh_margin"):
        Countdown(1, refresh_margin=-1)


@pytest.mark.parametrize(
    "value",
    ["2030-05-25 21:42:51+00:00", "2030-05-25T21:42:51Z", "2030-05-25T21:42:51", 1906667971],
)
def test_expiry_formats(value: Any) -> None:
    parsed = parse_expiry(value, "test")
    assert parsed.tzinfo is not None and parsed.year == 2030


def test_unreadable_expiry() -> None:
    with pytest.raises(StorageError, match="unreadable expiry"):
        parse_expiry("next tuesday", "test")


def test_provider_kinds() -> None:
    from obstore.auth.planetary_computer import PlanetaryComputerCredentialProvider

    assert provider_kind(S3CredentialsUrlProvider("https://x.invalid/c")) == "s3"
    assert provider_kind(SasTokenProvider("https://x.invalid/t")) == "azure"
    pc = PlanetaryComputerCredentialProvider(account_name="acc", container_name="cont")
    assert provider_kind(pc) == "azure"
    assert provider_kind(lambda: {}) == "s3"
    assert provider_kind(SimpleNamespace(kind="gcs")) == "gcs"


def test_sas_token_provider_needs_one_source() -> None:
    with pytest.raises(ConfigError):
        SasTokenProvider()
    with pytest.raises(ConfigError):
        SasTokenProvider("https://x.invalid", fetch=lambda a, c: ("t", None))


def test_sas_token_provider_from_a_callable_caches_per_container() -> None:
    calls: list[tuple[str, str]] = []

    def fetch(account: str, container: str) -> tuple[str, datetime | None]:
        calls.append((account, container))
        return f"sv=1&sig={account}{container}", datetime.now(UTC) + timedelta(hours=1)

    provider = SasTokenProvider(fetch=fetch)
    assert provider.token("acc", "one") == "sv=1&sig=accone"
    assert provider.token("acc", "one") == "sv=1&sig=accone"
    assert provider.token("acc", "two") == "sv=1&sig=acctwo"
    assert calls == [("acc", "one"), ("acc", "two")] and provider.fetch_count == 2


def test_pc_provider_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PC_SDK_SAS_URL", raising=False)
    assert PlanetaryComputerTokenProvider().endpoint == (
        "https://planetarycomputer.microsoft.com/api/sas/v1/token"
    )
    monkeypatch.setenv("PC_SDK_SAS_URL", "http://127.0.0.1:9/sas")
    assert PlanetaryComputerTokenProvider().endpoint == "http://127.0.0.1:9/sas"


def test_signed_url_helpers() -> None:
    sas = "https://a.blob.core.windows.net/c/k.tif?st=1&se=2&sp=rl&sv=3&sr=c&sig=abc"
    assert is_signed_url(sas) and unsign_url(sas) == "https://a.blob.core.windows.net/c/k.tif"
    s3 = "https://b.s3.amazonaws.com/k.tif?versionId=7&X-Amz-Signature=ff&X-Amz-Credential=c"
    assert unsign_url(s3) == "https://b.s3.amazonaws.com/k.tif?versionId=7"
    plain = "https://example.invalid/k.tif?v=2"
    assert not is_signed_url(plain) and unsign_url(plain) == plain


def test_descriptor_backend_is_cached_and_applies_the_recipe() -> None:
    descriptor = SimpleNamespace(
        id="earthsearch/landsat-test",
        requires_auth=True,
        s3_credentials_url=None,
        cloud_config={
            "provider": "aws",
            "requester_pays": True,
            "region": "us-west-2",
            "url_patterns": {"https://landsatlook.usgs.gov/data/": "s3://usgs-landsat/"},
        },
    )
    backend = backend_for_descriptor(descriptor)
    assert backend is backend_for_descriptor(descriptor)
    assert backend.requires_auth and backend.label == "earthsearch/landsat-test"
    assert backend.cloud_config.requester_pays
    assert backend.rewrite("https://landsatlook.usgs.gov/data/x.tif") == "s3://usgs-landsat/x.tif"
    # No credentials anywhere (tests isolate them): the read fails before any request.
    with pytest.raises(AccessDeniedError, match="requester-pays"):
        run_sync(backend.get_range("https://landsatlook.usgs.gov/data/x.tif", 0, 10))


def test_descriptor_without_recipe_uses_the_given_backend_itself() -> None:
    user = create_backend(default_s3_config={"region": "us-east-1"})
    assert backend_for_descriptor({"id": "mycompany/x", "requires_auth": False}, user) is user
    assert backend_for_descriptor({"id": "a/b"}) is default_backend()


def test_descriptor_recipe_merges_into_a_user_backend() -> None:
    user = create_backend(
        cloud_config={"url_patterns": {"https://cdn.invalid/": "s3://mine/"}},
        default_s3_config={"region": "eu-west-1"},
    )
    derived = backend_for_descriptor(
        {
            "id": "x/y",
            "requires_auth": True,
            "cloud_config": {"url_patterns": {"https://other.invalid/": "s3://theirs/"}},
        },
        user,
    )
    assert derived is not user and derived.requires_auth
    assert derived.rewrite("https://cdn.invalid/a") == "s3://mine/a"
    assert derived.rewrite("https://other.invalid/a") == "s3://theirs/a"


def test_descriptor_credentials_url_and_planetary_computer() -> None:
    nasa = backend_for_descriptor(
        {
            "id": "nasa/hls",
            "s3_credentials_url": "https://data.lpdaac.earthdatacloud.nasa.gov/s3credentials",
        }
    )
    provider = nasa.provider_for("s3")
    assert isinstance(provider, S3CredentialsUrlProvider) and provider.region == "us-west-2"
    pc = backend_for_descriptor(
        {
            "id": "pc/sentinel-2-l2a",
            "requires_auth": True,
            "stac_api": "https://planetarycomputer.microsoft.com/api/stac/v1",
        }
    )
    assert isinstance(pc.provider_for("azure"), PlanetaryComputerTokenProvider)
    own = SasTokenProvider("https://tokens.invalid/sas")
    mine = backend_for_descriptor(
        {
            "id": "pc/x",
            "requires_auth": True,
            "stac_api": "https://planetarycomputer.microsoft.com/api/stac/v1",
        },
        create_backend(credential_provider=own),
    )
    assert mine.provider_for("azure") is own


def test_descriptor_with_bad_cloud_config_names_the_dataset() -> None:
    with pytest.raises(ConfigError, match="dataset 'x/bad'"):
        backend_for_descriptor({"id": "x/bad", "cloud_config": {"colour": "blue"}})


def test_call_level_cloud_config_overrides_the_backends() -> None:
    own = create_backend(
        cloud_config={
            "region": "eu-west-1",
            "url_patterns": {"https://cdn.invalid/": "s3://old/"},
        }
    )
    given = {"region": "us-west-2", "url_patterns": {"https://cdn.invalid/": "s3://new/"}}
    filled = own.with_dataset(given)
    assert filled.cloud_config.region == "eu-west-1"
    assert filled.rewrite("https://cdn.invalid/a") == "s3://old/a"
    forced = own.with_dataset(given, override=True)
    assert forced.cloud_config.region == "us-west-2"
    assert forced.rewrite("https://cdn.invalid/a") == "s3://new/a"
    assert forced is own.with_dataset(given, override=True)  # cached: stores are shared


def test_a_named_provider_survives_merging_with_the_default() -> None:
    azure = create_backend(cloud_config={"provider": "azure", "endpoint": "http://127.0.0.1:9"})
    merged = azure.with_dataset({"requester_pays": True}, override=True)
    assert merged.cloud_config.provider == "azure"
    assert merged.cloud_config.endpoint == "http://127.0.0.1:9"
    plain = create_backend(cloud_config={"requester_pays": True})
    assert plain.with_dataset({"provider": "gcs"}).cloud_config.provider == "gcs"


def test_cloud_config_unregister() -> None:
    from rasteret.io import CloudConfig

    CloudConfig.register("RT-IO/Unregister", {"region": "eu-west-1"})
    assert CloudConfig.get_config("rt-io/unregister").region == "eu-west-1"
    removed = CloudConfig.unregister("rt-io/UNREGISTER")
    assert removed is not None and removed.region == "eu-west-1"
    assert CloudConfig.get_config("rt-io/unregister") is None
    assert CloudConfig.unregister("rt-io/unregister") is None
