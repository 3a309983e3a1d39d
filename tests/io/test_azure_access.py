"""Azure Blob through Azurite: SAS tokens from a local token endpoint, signed at read time."""

from __future__ import annotations

import time

import pytest

from rasteret.errors import AccessDeniedError, ConfigError
from rasteret.io import (
    PlanetaryComputerTokenProvider,
    SasTokenProvider,
    create_backend,
    run_sync,
    unsign_url,
)
from tests.io.conftest import COG_KEY, CONTAINER
from tests.servers.azurite import ACCOUNT, AzuriteServer, container_sas
from tests.servers.credentials import CredentialsServer


def azure_backend(azurite: AzuriteServer, provider=None, **kwargs):
    return create_backend(
        credential_provider=provider, azure_config={"endpoint": azurite.account_url}, **kwargs
    )


def test_sas_tokens_sign_production_style_urls(
    azurite: AzuriteServer, sas_server: CredentialsServer, cog_bytes: bytes
) -> None:
    backend = azure_backend(azurite, SasTokenProvider(sas_server.sas_url))
    url = azurite.blob_url(CONTAINER, COG_KEY)
    prefix, info = run_sync(backend.get_prefix(url, 1000))
    assert bytes(prefix) == cog_bytes[:1000] and info.size == len(cog_bytes)
    assert bytes(run_sync(backend.get_range(url, 5000, 9000))) == cog_bytes[5000:9000]
    assert run_sync(backend.head(url)).size == len(cog_bytes)
    assert sas_server.count(f"/sas/{ACCOUNT}/{CONTAINER}") == 1


def test_az_scheme_with_account(
    azurite: AzuriteServer, sas_server: CredentialsServer, cog_bytes: bytes
) -> None:
    backend = azure_backend(azurite, SasTokenProvider(sas_server.sas_url))
    url = f"az://{CONTAINER}@{ACCOUNT}/{COG_KEY}"
    assert bytes(run_sync(backend.get_range(url, 0, 500))) == cog_bytes[:500]


def test_az_scheme_without_account_says_how_to_name_it() -> None:
    backend = create_backend()
    with pytest.raises(ConfigError, match="account"):
        run_sync(backend.get_range(f"az://{CONTAINER}/{COG_KEY}", 0, 10))


def test_tokens_expiring_mid_read_are_replaced(
    azurite: AzuriteServer, sas_server: CredentialsServer, cog_bytes: bytes
) -> None:
    provider = SasTokenProvider(sas_server.sas_url)
    backend = azure_backend(azurite, provider)
    url = azurite.blob_url(CONTAINER, COG_KEY)
    deadline = time.monotonic() + 7
    reads = 0
    while time.monotonic() < deadline:
        start = (reads * 1500) % (len(cog_bytes) - 1500)
        assert (
            bytes(run_sync(backend.get_range(url, start, start + 1500)))
            == cog_bytes[start : start + 1500]
        )
        reads += 1
        time.sleep(0.1)
    tokens = sas_server.count("/sas/")
    # 4 s tokens refreshed 1 s before expiry over 7 s: 2 or 3 tokens (one more if a slow read
    # met an expired one), shared by many reads.
    assert 2 <= tokens <= 4 and provider.fetch_count == tokens
    assert reads > 5 * tokens


def test_refused_token_is_fetched_again_once(
    azurite: AzuriteServer, sas_server: CredentialsServer, cog_bytes: bytes
) -> None:
    sas_server.bad_sas = 1  # first token: wrong signature, far expiry
    backend = azure_backend(azurite, SasTokenProvider(sas_server.sas_url))
    url = azurite.blob_url(CONTAINER, COG_KEY)
    assert bytes(run_sync(backend.get_range(url, 0, 100))) == cog_bytes[:100]
    assert sas_server.count("/sas/") == 2


def test_token_refused_after_refresh_names_the_provider(
    azurite: AzuriteServer, sas_server: CredentialsServer
) -> None:
    sas_server.bad_sas = 10
    backend = azure_backend(azurite, SasTokenProvider(sas_server.sas_url))
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(azurite.blob_url(CONTAINER, COG_KEY), 0, 100))
    message = str(err.value)
    assert "SasTokenProvider" in message and "even after fetching new ones" in message
    assert "sig=" not in message
    assert sas_server.count("/sas/") == 2


def test_anonymous_read_of_private_container(azurite: AzuriteServer) -> None:
    backend = azure_backend(azurite)
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(azurite.blob_url(CONTAINER, COG_KEY), 0, 100))
    assert "anonymous" in str(err.value) and "SasTokenProvider" in str(err.value)


def test_requires_auth_without_provider_fails_early(azurite: AzuriteServer) -> None:
    backend = azure_backend(azurite, requires_auth=True, label="pc/test")
    with pytest.raises(AccessDeniedError, match="no credentials were found"):
        run_sync(backend.get_range(azurite.blob_url(CONTAINER, COG_KEY), 0, 100))


def test_signed_href_is_read_and_can_be_unsigned(azurite: AzuriteServer, cog_bytes: bytes) -> None:
    from datetime import UTC, datetime, timedelta

    token = container_sas(CONTAINER, datetime.now(UTC) + timedelta(minutes=5))
    signed = f"{azurite.blob_url(CONTAINER, COG_KEY)}?{token}"
    backend = azure_backend(azurite)
    assert bytes(run_sync(backend.get_range(signed, 0, 100))) == cog_bytes[:100]
    assert unsign_url(signed) == azurite.blob_url(CONTAINER, COG_KEY)


def test_subscription_key_is_sent_and_checked(
    azurite: AzuriteServer, sas_server: CredentialsServer, cog_bytes: bytes
) -> None:
    sas_server.subscription_key = "sub-key-for-tests"
    url = azurite.blob_url(CONTAINER, COG_KEY)
    good = PlanetaryComputerTokenProvider(sas_server.sas_url, subscription_key="sub-key-for-tests")
    assert bytes(run_sync(azure_backend(azurite, good).get_range(url, 0, 10))) == cog_bytes[:10]
    assert sas_server.requests[-1]["subscription_key"] is True
    bad = PlanetaryComputerTokenProvider(sas_server.sas_url, subscription_key="wrong-sub-key")
    with pytest.raises(AccessDeniedError) as err:
        run_sync(azure_backend(azurite, bad).get_range(url, 0, 10))
    assert "subscription key" in str(err.value) and "wrong-sub-key" not in str(err.value)


def test_obstores_planetary_computer_provider_works(
    azurite: AzuriteServer, sas_server: CredentialsServer, cog_bytes: bytes
) -> None:
    from obstore.auth.planetary_computer import PlanetaryComputerCredentialProvider

    provider = PlanetaryComputerCredentialProvider(
        f"https://{ACCOUNT}.blob.core.windows.net/{CONTAINER}", sas_url=sas_server.sas_url
    )
    backend = azure_backend(azurite, provider)
    url = azurite.blob_url(CONTAINER, COG_KEY)
    assert bytes(run_sync(backend.get_range(url, 100, 200))) == cog_bytes[100:200]
