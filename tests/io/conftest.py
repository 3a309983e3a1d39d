"""Fixtures of the io tests: a small real COG, and the cloud emulators holding it.

- moto with IAM enforced (shared session server): a private bucket, a "requester-pays" bucket
  (moto does not enforce requester pays, the fault proxy in front of it does), a read-only user;
- Azurite with a private container; the patched GCS emulator with a bucket;
- a local credentials endpoint (temporary S3 keys, SAS tokens) per test.

Buckets and containers are named ``rt-io-*`` so other modules sharing the servers are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.geotiff import noise, write_geotiff
from tests.servers.azurite import AzuriteServer, container_sas
from tests.servers.credentials import CredentialsServer
from tests.servers.gcs import GcsServer
from tests.servers.moto import AccessKeys, MotoServer, read_only_policy
from tests.servers.proxy import FaultProxy

PRIVATE = "rt-io-private"
PAYER = "rt-io-payer"
REGIONAL = "rt-io-regional"
CONTAINER = "rt-io-cogs"
GCS_BUCKET = "rtiogcs"
COG_KEY = "scenes/a/cog.tif"


@pytest.fixture(scope="session")
def cog_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300x300 uint16 DEFLATE COG with 128-px tiles and an overview (about 200 KB)."""
    path = tmp_path_factory.mktemp("io-cog") / "cog.tif"
    data = noise(1, 300, 300, seed=7, high=4000)
    write_geotiff(path, data, driver="COG", compress="DEFLATE", blocksize=128, overviews="AUTO")
    return path


@pytest.fixture(scope="session")
def cog_bytes(cog_path: Path) -> bytes:
    return cog_path.read_bytes()


@dataclass(frozen=True)
class S3World:
    """The IAM-enforcing moto server, a proxy in front of it, and a read-only user's keys."""

    moto: MotoServer
    proxy: FaultProxy
    reader: AccessKeys

    def s3_config(self, *, via_proxy: bool = False, keys: AccessKeys | None = None) -> dict:
        """obstore S3 config reaching the server (optionally through the proxy)."""
        config = {"endpoint": self.proxy.url if via_proxy else self.moto.endpoint}
        config["region"] = "us-east-1"
        if keys is not None:
            config["access_key_id"] = keys.access_key_id
            config["secret_access_key"] = keys.secret_access_key
        return config


@pytest.fixture(scope="session")
def s3_world(moto_iam_server: MotoServer, cog_bytes: bytes) -> Iterator[S3World]:
    for bucket in (PRIVATE, PAYER, REGIONAL):
        moto_iam_server.create_bucket(bucket)
        moto_iam_server.upload(bucket, COG_KEY, cog_bytes)
    reader = moto_iam_server.create_user("rt-io-reader", read_only_policy(PRIVATE, PAYER, REGIONAL))
    with FaultProxy(moto_iam_server.endpoint) as proxy:
        yield S3World(moto_iam_server, proxy, reader)


@pytest.fixture
def s3(s3_world: S3World) -> Iterator[S3World]:
    """The S3 world with the proxy's rules cleared after the test."""
    yield s3_world
    s3_world.proxy.clear_rules()


@pytest.fixture(scope="session")
def azurite(cog_bytes: bytes) -> Iterator[AzuriteServer]:
    with AzuriteServer() as server:
        server.create_container(CONTAINER)
        server.upload(CONTAINER, COG_KEY, cog_bytes)
        yield server


def sas_signer(container: str, expires_at: datetime, valid: bool) -> str:
    """Sign container SAS tokens with Azurite's key (or a wrong key when ``valid`` is False)."""
    if valid:
        return container_sas(container, expires_at)
    return container_sas(container, expires_at, key="d3Jvbmcta2V5LW5vdC10aGUtYWNjb3VudC1rZXk=")


@pytest.fixture(scope="session")
def gcs(cog_bytes: bytes) -> Iterator[GcsServer]:
    with GcsServer() as server:
        server.create_bucket(GCS_BUCKET)
        server.upload(GCS_BUCKET, COG_KEY, cog_bytes)
        yield server


@pytest.fixture
def s3_credentials_server(s3_world: S3World) -> Iterator[CredentialsServer]:
    """Temporary S3 keys for the private bucket, 4 s life (Bearer ``t0ken-for-tests`` or the
    basic login ``earthling`` / ``pa55word-for-tests``)."""
    server = CredentialsServer(
        token="t0ken-for-tests",
        login=("earthling", "pa55word-for-tests"),
        iam=s3_world.moto.client("iam"),
        s3_policy=read_only_policy(PRIVATE),
    )
    with server:
        yield server


@pytest.fixture
def sas_server() -> Iterator[CredentialsServer]:
    """SAS tokens for Azurite containers, 4 s life, Planetary Computer's answer shape."""
    with CredentialsServer(sas_signer=sas_signer) as server:
        yield server
