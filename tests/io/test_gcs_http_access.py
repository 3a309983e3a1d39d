"""GCS (emulator), plain HTTP (nginx) and url_patterns rewriting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rasteret.errors import AccessDeniedError, ConfigError, StorageError
from rasteret.io import create_backend, run_sync
from tests.io.conftest import COG_KEY, GCS_BUCKET, PRIVATE, S3World
from tests.servers.gcs import GcsServer
from tests.servers.nginx import NginxServer
from tests.servers.proxy import FaultProxy


class GcsToken:
    """A minimal GCS credential provider: a fixed bearer token."""

    kind = "gcs"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict:
        self.calls += 1
        return {"token": "gcs-token-for-tests", "expires_at": None}


@pytest.fixture(scope="module")
def gcs_proxy(gcs: GcsServer) -> Iterator[FaultProxy]:
    """The GCS emulator behind the proxy, which refuses requests without Authorization (the
    emulator itself has no auth)."""
    with FaultProxy(gcs.url) as proxy:
        proxy.fail(401, headers={"authorization": None})
        yield proxy


@pytest.mark.parametrize(
    "url",
    [f"gs://{GCS_BUCKET}/{COG_KEY}", f"https://storage.googleapis.com/{GCS_BUCKET}/{COG_KEY}"],
)
def test_public_gcs_bucket_anonymous(gcs: GcsServer, cog_bytes: bytes, url: str) -> None:
    backend = create_backend(gcs_config={"base_url": gcs.url})
    prefix, info = run_sync(backend.get_prefix(url, 2048))
    assert bytes(prefix) == cog_bytes[:2048] and info.size == len(cog_bytes)
    assert bytes(run_sync(backend.get_range(url, 3000, 9000))) == cog_bytes[3000:9000]
    assert run_sync(backend.head(url)).size == len(cog_bytes)


def test_private_gcs_bucket_needs_credentials(gcs_proxy: FaultProxy) -> None:
    backend = create_backend(gcs_config={"base_url": gcs_proxy.url})
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(f"gs://{GCS_BUCKET}/{COG_KEY}", 0, 100))
    assert "anonymous" in str(err.value) and "GOOGLE_APPLICATION_CREDENTIALS" in str(err.value)


def test_private_gcs_bucket_with_a_credential_provider(
    gcs_proxy: FaultProxy, cog_bytes: bytes
) -> None:
    provider = GcsToken()
    backend = create_backend(credential_provider=provider, gcs_config={"base_url": gcs_proxy.url})
    mark = gcs_proxy.mark()
    assert (
        bytes(run_sync(backend.get_range(f"gs://{GCS_BUCKET}/{COG_KEY}", 0, 100)))
        == (cog_bytes[:100])
    )
    assert provider.calls >= 1
    assert [r["authorization"] for r in gcs_proxy.requests(since=mark)] == [True]


def test_gcs_requires_auth_without_credentials_fails_early(gcs: GcsServer) -> None:
    backend = create_backend(gcs_config={"base_url": gcs.url}, requires_auth=True)
    with pytest.raises(AccessDeniedError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        run_sync(backend.get_range(f"gs://{GCS_BUCKET}/{COG_KEY}", 0, 100))


@pytest.fixture(scope="module")
def http_root(nginx_server: NginxServer, nginx_root: Path, cog_bytes: bytes) -> str:
    folder = nginx_root / "rt-io-http"
    folder.mkdir(exist_ok=True)
    (folder / "cog.tif").write_bytes(cog_bytes)
    return f"{nginx_server.url}/rt-io-http"


def test_plain_http(http_root: str, cog_bytes: bytes) -> None:
    backend = create_backend()
    url = f"{http_root}/cog.tif"
    prefix, info = run_sync(backend.get_prefix(url, 100_000))
    assert bytes(prefix) == cog_bytes[:100_000] and info.size == len(cog_bytes)
    whole, _ = run_sync(backend.get_prefix(url, 10_000_000))
    assert bytes(whole) == cog_bytes
    assert bytes(run_sync(backend.get_range(url, 17, 4000))) == cog_bytes[17:4000]
    assert run_sync(backend.head(url)).size == len(cog_bytes)


def test_http_url_with_query_string_is_refused_clearly(http_root: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_sync(create_backend().get_range(f"{http_root}/cog.tif?sig=abcdefgh12345", 0, 10))
    assert "abcdefgh12345" not in str(err.value) and "unsigned" in str(err.value)


def test_url_patterns_rewrite_a_cdn_prefix_to_s3(s3: S3World, cog_bytes: bytes) -> None:
    # The CDN host does not exist: the read only works if the rewrite happens first.
    backend = create_backend(
        cloud_config={"url_patterns": {"https://cdn.example.invalid/data/": f"s3://{PRIVATE}/"}},
        default_s3_config=s3.s3_config(keys=s3.reader),
    )
    url = f"https://cdn.example.invalid/data/{COG_KEY}"
    assert backend.rewrite(url) == f"s3://{PRIVATE}/{COG_KEY}"
    assert bytes(run_sync(backend.get_range(url, 0, 1000))) == cog_bytes[:1000]


def test_url_patterns_rewrite_s3_to_http(http_root: str, cog_bytes: bytes) -> None:
    backend = create_backend(
        cloud_config={"provider": "http", "url_patterns": {"s3://cdn-bucket/": f"{http_root}/"}}
    )
    assert bytes(run_sync(backend.get_range("s3://cdn-bucket/cog.tif", 0, 64))) == cog_bytes[:64]


@pytest.mark.parametrize("offset", [-100, 100])
def test_range_past_the_end_says_the_file_is_shorter(
    http_root: str, cog_bytes: bytes, offset: int
) -> None:
    size = len(cog_bytes)
    with pytest.raises(StorageError, match="shorter than"):
        run_sync(create_backend().get_range(f"{http_root}/cog.tif", size + offset, size + 200))
