"""s3_credentials_url: temporary keys from a local endpoint, refreshed before and after expiry.

The endpoint issues real IAM keys on the IAM-enforcing moto server and deletes each one when it
expires (4 s), so a read that kept using an old key would be refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rasteret.errors import AccessDeniedError, ConfigError
from rasteret.io import S3CredentialsUrlProvider, backend_for_descriptor, create_backend, run_sync
from tests.io.conftest import COG_KEY, PRIVATE, S3World
from tests.servers.credentials import CredentialsServer

URL = f"s3://{PRIVATE}/{COG_KEY}"


def reads_over(backend, cog_bytes: bytes, seconds: float) -> int:
    """Sequential 2000-byte range reads, checked against the file, for ``seconds``; their count."""
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        start = (count * 2000) % (len(cog_bytes) - 2000)
        assert (
            bytes(run_sync(backend.get_range(URL, start, start + 2000)))
            == cog_bytes[start : start + 2000]
        )
        count += 1
        time.sleep(0.1)
    return count


def test_keys_are_refreshed_before_expiry_during_a_long_read(
    s3: S3World, s3_credentials_server: CredentialsServer, cog_bytes: bytes
) -> None:
    provider = S3CredentialsUrlProvider(s3_credentials_server.s3_url, token="t0ken-for-tests")
    backend = create_backend(credential_provider=provider, default_s3_config=s3.s3_config())
    reads = reads_over(backend, cog_bytes, seconds=9)
    issued = len(s3_credentials_server.issued_keys)
    # 4 s keys refreshed 1 s early over 9 s: 3 or 4 keys (5 if a slow read met a deleted
    # key and refreshed once more), each reused by many reads.
    assert 3 <= issued <= 5, issued
    assert reads > 4 * issued
    assert provider.fetch_count == issued
    assert all(r["auth"] == "Bearer" for r in s3_credentials_server.requests)


def test_revoked_keys_are_replaced_once_and_the_read_continues(
    s3: S3World, s3_credentials_server: CredentialsServer, cog_bytes: bytes
) -> None:
    s3_credentials_server.s3_lifetime = 600
    provider = S3CredentialsUrlProvider(s3_credentials_server.s3_url, token="t0ken-for-tests")
    backend = create_backend(credential_provider=provider, default_s3_config=s3.s3_config())
    assert bytes(run_sync(backend.get_range(URL, 0, 50))) == cog_bytes[:50]
    s3_credentials_server.revoke_s3()
    assert bytes(run_sync(backend.get_range(URL, 50, 100))) == cog_bytes[50:100]
    assert provider.fetch_count == 2


def test_netrc_login(
    s3: S3World, s3_credentials_server: CredentialsServer, cog_bytes: bytes, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login earthling password pa55word-for-tests\n")
    netrc.chmod(0o600)
    provider = S3CredentialsUrlProvider(s3_credentials_server.s3_url, netrc_path=netrc)
    assert provider.auth_method == "netrc"
    backend = create_backend(credential_provider=provider, default_s3_config=s3.s3_config())
    assert bytes(run_sync(backend.get_range(URL, 0, 64))) == cog_bytes[:64]
    assert [r["auth"] for r in s3_credentials_server.requests] == ["Basic"]


def test_token_from_environment(
    s3: S3World,
    s3_credentials_server: CredentialsServer,
    cog_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EARTHDATA_TOKEN", "t0ken-for-tests")
    provider = S3CredentialsUrlProvider(s3_credentials_server.s3_url)
    backend = create_backend(credential_provider=provider, default_s3_config=s3.s3_config())
    assert bytes(run_sync(backend.get_range(URL, 0, 64))) == cog_bytes[:64]


def test_wrong_login_names_the_provider_and_what_to_set(
    s3: S3World, s3_credentials_server: CredentialsServer, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login earthling password not-the-password\n")
    netrc.chmod(0o600)
    provider = S3CredentialsUrlProvider(s3_credentials_server.s3_url, netrc_path=netrc)
    backend = create_backend(credential_provider=provider, default_s3_config=s3.s3_config())
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(URL, 0, 64))
    message = str(err.value)
    assert "S3CredentialsUrlProvider" in message and "/s3credentials" in message
    assert "HTTP 401" in message and "EARTHDATA_TOKEN" in message
    assert "not-the-password" not in message


def test_no_login_at_all(
    s3: S3World, s3_credentials_server: CredentialsServer, tmp_path: Path
) -> None:
    provider = S3CredentialsUrlProvider(
        s3_credentials_server.s3_url, netrc_path=tmp_path / "missing"
    )
    backend = create_backend(credential_provider=provider, default_s3_config=s3.s3_config())
    with pytest.raises(AccessDeniedError, match="has no login: set EARTHDATA_TOKEN"):
        run_sync(backend.get_range(URL, 0, 64))
    assert s3_credentials_server.requests == []


def test_descriptor_with_s3_credentials_url(
    s3: S3World,
    s3_credentials_server: CredentialsServer,
    cog_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EARTHDATA_TOKEN", "t0ken-for-tests")
    descriptor = {
        "id": "nasa/test-temporary",
        "requires_auth": True,
        "s3_credentials_url": s3_credentials_server.s3_url,
        "cloud_config": {"provider": "aws", "region": "us-east-1", "endpoint": s3.moto.endpoint},
    }
    backend = backend_for_descriptor(descriptor)
    assert backend is backend_for_descriptor(descriptor)
    assert isinstance(backend.provider_for("s3"), S3CredentialsUrlProvider)
    assert bytes(run_sync(backend.get_range(URL, 0, 64))) == cog_bytes[:64]


def test_credentials_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="s3_credentials_url"):
        S3CredentialsUrlProvider("ftp://example.invalid/creds")
