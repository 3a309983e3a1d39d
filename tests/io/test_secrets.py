"""No key, token or signed query string in any repr, exception (with traceback) or log line."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rasteret.errors import RasteretError
from rasteret.io import (
    CloudConfig,
    PlanetaryComputerTokenProvider,
    S3CredentialsUrlProvider,
    SasTokenProvider,
    create_backend,
    redact_url,
    run_sync,
)
from rasteret.io.secrets import register_secret, scrub
from tests.io.conftest import COG_KEY, CONTAINER, PRIVATE, S3World
from tests.servers.azurite import ACCOUNT_KEY, AzuriteServer, container_sas
from tests.servers.credentials import CredentialsServer

SECRET_KEY = "sEcReT-access-key-for-repr-tests"
TOKEN = "t0ken-for-repr-tests-123456"


def test_scrub_removes_signed_queries_keys_and_bearer_tokens() -> None:
    text = (
        "GET https://acc.blob.core.windows.net/c/k.tif?sv=2020&sig=abc%2Fdef&se=2030 failed; "
        "key AKIAABCDEFGHIJKLMNOP; Authorization: Bearer abcdefghijklmnop; sig=zzzzzzzz"
    )
    out = scrub(text)
    assert "abc%2Fdef" not in out and "sv=2020" not in out
    assert "AKIAABCDEFGHIJKLMNOP" not in out
    assert "abcdefghijklmnop" not in out and "zzzzzzzz" not in out
    assert "https://acc.blob.core.windows.net/c/k.tif?<redacted>" in out


def test_scrub_removes_registered_secrets() -> None:
    register_secret("very-private-value-42")
    assert "very-private-value-42" not in scrub("server said: very-private-value-42 is wrong")


def test_redact_url_drops_query_and_user_info() -> None:
    assert redact_url("https://user:pw@host:8443/a/b.tif?sig=x") == (
        "https://host:8443/a/b.tif?<redacted>"
    )


def test_reprs_hold_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", "pc-subscription-for-tests")
    s3_provider = S3CredentialsUrlProvider(
        "https://creds.example.invalid/s3credentials?api_key=query-secret", token=TOKEN
    )
    sas = SasTokenProvider("https://tokens.example.invalid/sas", subscription_key=TOKEN)
    pc = PlanetaryComputerTokenProvider()
    backend = create_backend(
        credential_provider=s3_provider,
        azure_credential_provider=sas,
        default_s3_config={
            "access_key_id": "AKIAREPRTESTKEY00001",
            "secret_access_key": SECRET_KEY,
        },
        azure_config={"account_key": ACCOUNT_KEY},
        cloud_config={"requester_pays": True, "region": "us-west-2"},
    )
    texts = [
        repr(backend),
        str(backend),
        repr(s3_provider),
        repr(sas),
        repr(sas.for_container("acc", "cont")),
        repr(pc),
        repr(backend.cloud_config),
        repr(CloudConfig(url_patterns={"https://cdn/": "s3://b/"})),
    ]
    for text in texts:
        for secret in (SECRET_KEY, TOKEN, ACCOUNT_KEY, "query-secret", "pc-subscription"):
            assert secret not in text, text
        assert "AKIAREPRTESTKEY00001" not in text


def failures(
    s3: S3World, azurite: AzuriteServer, sas_server: CredentialsServer, tmp_path: Path
) -> list[tuple[RasteretError, list[str]]]:
    """Run failing reads that had secrets in hand; return each error with the secrets used."""
    out: list[tuple[RasteretError, list[str]]] = []

    def attempt(coro, secrets: list[str]) -> None:
        with pytest.raises(RasteretError) as err:
            run_sync(coro)
        out.append((err.value, secrets))

    wrong = {"access_key_id": "AKIAWRONGKEYFORTEST1", "secret_access_key": SECRET_KEY}
    backend = create_backend(default_s3_config={**s3.s3_config(), **wrong})
    attempt(backend.get_range(f"s3://{PRIVATE}/{COG_KEY}", 0, 10), list(wrong.values()))

    sas_server.bad_sas = 10
    provider = SasTokenProvider(sas_server.sas_url, subscription_key=TOKEN)
    backend = create_backend(
        credential_provider=provider, azure_config={"endpoint": azurite.account_url}
    )
    attempt(backend.get_range(azurite.blob_url(CONTAINER, COG_KEY), 0, 10), [TOKEN, "sig="])

    expired = container_sas(CONTAINER, datetime.now(UTC) - timedelta(minutes=1))
    signature = expired.split("sig=")[1]
    backend = create_backend(azure_config={"endpoint": azurite.account_url})
    url = f"{azurite.blob_url(CONTAINER, COG_KEY)}?{expired}"
    attempt(backend.get_range(url, 0, 10), [signature, "sig="])

    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login earthling password netrc-secret-pw\n")
    provider_s3 = S3CredentialsUrlProvider(f"{sas_server.url}/s3credentials", netrc_path=netrc)
    sas_server.token = "some-other-token"
    backend = create_backend(credential_provider=provider_s3, default_s3_config=s3.s3_config())
    attempt(backend.get_range(f"s3://{PRIVATE}/{COG_KEY}", 0, 10), ["netrc-secret-pw"])
    return out


def test_errors_and_logs_hold_no_secrets(
    s3: S3World,
    azurite: AzuriteServer,
    sas_server: CredentialsServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        results = failures(s3, azurite, sas_server, tmp_path)
    assert len(results) == 4
    for error, secrets in results:
        rendered = "".join(traceback.format_exception(error)) + repr(error)
        for secret in secrets:
            assert secret not in rendered, (secret, rendered)
    logged = caplog.text
    for _, secrets in results:
        for secret in secrets:
            assert secret not in logged
