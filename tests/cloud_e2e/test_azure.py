"""Builds and reads on Azure Blob (Azurite) with SAS tokens from a local token endpoint.

The Planetary Computer path runs as users meet it: a STAC API whose items carry pre-signed
hrefs, a dataset served by Planetary Computer's STAC API (so rasteret signs with its token
API, here pointed at the local endpoint by ``PC_SDK_SAS_URL``), no backend passed. Tokens must
not reach the collection, and a read outliving several 2-second tokens must succeed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

import rasteret
import rasteret.io.descriptor
from rasteret import DatasetDescriptor, DatasetRegistry
from rasteret.errors import BuildError, ReadError
from rasteret.io import SasTokenProvider
from tests.cloud_e2e.conftest import (
    BANDS,
    CONTAINER,
    LONLAT_BBOX,
    Scene,
    assert_reads_match,
    collection_bytes,
    stac_collection,
    stac_item,
    stored_hrefs,
)
from tests.servers.azurite import ACCOUNT, AzuriteServer, container_sas
from tests.servers.credentials import CredentialsServer
from tests.servers.proxy import FaultProxy
from tests.servers.stac import StacApiServer

STAC_COLLECTION = "rt-e2e-azure"
PC_STAC_API = "https://planetarycomputer.microsoft.com/api/stac/v1"


def blob_url(key: str) -> str:
    return f"https://{ACCOUNT}.blob.core.windows.net/{CONTAINER}/{key}"


@pytest.fixture(scope="module")
def azure_proxy(azurite: AzuriteServer) -> Iterator[FaultProxy]:
    with FaultProxy(azurite.account_url.rsplit("/", 1)[0]) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def presigned_token(stac_server: StacApiServer, scenes: list[Scene]) -> str:
    """Items in the STAC API with hrefs signed by a valid one-hour SAS token (what
    ``planetary_computer.sign`` hands out); returns the token."""
    token = container_sas(CONTAINER, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    stac_server.add_collections([stac_collection(STAC_COLLECTION, scenes)])
    stac_server.add_items(
        [stac_item(s, lambda key: f"{blob_url(key)}?{token}", STAC_COLLECTION) for s in scenes]
    )
    return token


@pytest.fixture
def pc_dataset(
    azure_proxy: FaultProxy, sas_server: CredentialsServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A dataset served by Planetary Computer's STAC API, its token API and blob endpoint
    pointed at the local servers."""
    monkeypatch.setattr(rasteret.io.descriptor, "_shared", {})  # no provider of earlier tests
    monkeypatch.setenv("PC_SDK_SAS_URL", sas_server.sas_url)
    descriptor = DatasetDescriptor(
        id="rt-e2e/pc-style",
        stac_api=PC_STAC_API,
        stac_collection=STAC_COLLECTION,
        band_map={b: b for b in BANDS},
        requires_auth=True,
        cloud_config={"provider": "azure", "endpoint": f"{azure_proxy.url}/{{account}}"},
    )
    rasteret.register(descriptor)
    yield descriptor.id
    DatasetRegistry.unregister(descriptor.id)
    azure_proxy.clear_rules()


def test_planetary_computer_style_tokens_expire_mid_read(
    pc_dataset: str,
    presigned_token: str,
    stac_server: StacApiServer,
    sas_server: CredentialsServer,
    azure_proxy: FaultProxy,
    scenes: list[Scene],
) -> None:
    sas_server.sas_lifetime = 2.0
    coll = rasteret.build(
        pc_dataset,
        name="pc-style",
        stac_api=stac_server.url,
        bbox=LONLAT_BBOX,
        date_range=("2024-06-01", "2024-07-31"),
        progress=False,
    )
    assert coll.build_report.parsed == 4
    assert sas_server.count(f"/sas/{ACCOUNT}/{CONTAINER}") >= 1  # signed with fresh tokens
    # The hrefs are stored unsigned: no token, no signature parameter, in any written byte.
    assert stored_hrefs(coll) == sorted(blob_url(s.key(b)) for s in scenes for b in BANDS)
    written = collection_bytes(coll)
    signature = dict(p.split("=", 1) for p in presigned_token.split("&"))["sig"]
    assert signature.encode() not in written and b"sig=" not in written
    assert b"se=" not in written

    time.sleep(2.0)  # the build's token has expired
    azure_proxy.delay(700, path=f"^/{ACCOUNT}/{CONTAINER}/")
    tokens = sas_server.count("/sas/")
    started = time.monotonic()
    assert_reads_match(coll, scenes, max_concurrent=1)
    took = time.monotonic() - started
    new_tokens = sas_server.count("/sas/") - tokens
    assert took > 2.5 and new_tokens >= 2, (took, new_tokens)


@pytest.fixture
def azure_datasets(dataset, azurite: AzuriteServer) -> dict[str, str]:
    """Two datasets over the private container (unsigned hrefs): one with requires_auth."""
    config = {"provider": "azure", "endpoint": azurite.account_url}
    dataset("rt-e2e/az-auth", blob_url, requires_auth=True, cloud_config=config)
    dataset("rt-e2e/az-plain", blob_url, cloud_config=config)
    return {"auth": "rt-e2e/az-auth", "plain": "rt-e2e/az-plain"}


def test_sas_token_provider_and_missing_credentials(
    azure_datasets: dict[str, str], sas_server: CredentialsServer, scenes: list[Scene]
) -> None:
    with pytest.raises(BuildError) as err:
        rasteret.build(azure_datasets["auth"], name="az-none", progress=False)
    message = str(err.value)
    assert "no credentials were found" in message and "SasTokenProvider" in message
    assert "rt-e2e/az-auth" in message
    with pytest.raises(BuildError) as err:
        rasteret.build(azure_datasets["plain"], name="az-anon", progress=False)
    assert "anonymous" in str(err.value) and "SasTokenProvider" in str(err.value)

    backend = rasteret.create_backend(credential_provider=SasTokenProvider(sas_server.sas_url))
    coll = rasteret.build(azure_datasets["auth"], name="az", backend=backend, progress=False)
    assert_reads_match(coll, scenes)
    assert_reads_match(rasteret.load(coll.path, backend=backend), scenes)
    with pytest.raises(ReadError, match="no credentials were found"):
        assert_reads_match(rasteret.load(coll.path), scenes)
