"""Builds and reads on GCS (emulator) and plain HTTP (nginx); record tables with pre-signed
hrefs are stored unsigned."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

import rasteret
from rasteret.errors import BuildError, ReadError
from tests.cloud_e2e.conftest import (
    BANDS,
    GCS_BUCKET,
    Scene,
    assert_reads_match,
    collection_bytes,
    stored_hrefs,
)
from tests.servers.gcs import GcsServer
from tests.servers.nginx import NginxServer
from tests.servers.proxy import FaultProxy


class GcsToken:
    """A GCS credential provider handing out a fixed bearer token."""

    kind = "gcs"

    def __call__(self) -> dict:
        return {"token": "gcs-token-for-e2e", "expires_at": None}


def gcs_href(key: str) -> str:
    return f"gs://{GCS_BUCKET}/{key}"


def test_gcs_bucket(gcs: GcsServer, dataset, scenes: list[Scene]) -> None:
    dataset("rt-e2e/gcs", gcs_href)
    backend = rasteret.create_backend(gcs_config={"base_url": gcs.url})
    coll = rasteret.build("rt-e2e/gcs", name="gcs", backend=backend, progress=False)
    assert stored_hrefs(coll) == sorted(gcs_href(s.key(b)) for s in scenes for b in BANDS)
    assert_reads_match(coll, scenes)


@pytest.fixture
def gcs_proxy(gcs: GcsServer) -> Iterator[FaultProxy]:
    """The emulator behind the proxy, which refuses requests without a token (the emulator
    itself has no auth)."""
    with FaultProxy(gcs.url) as proxy:
        proxy.fail(401, headers={"authorization": None})
        yield proxy


def test_private_gcs_bucket_needs_credentials(
    gcs_proxy: FaultProxy, dataset, scenes: list[Scene]
) -> None:
    dataset("rt-e2e/gcs-private", gcs_href)
    anonymous = rasteret.create_backend(gcs_config={"base_url": gcs_proxy.url})
    with pytest.raises(BuildError) as err:
        rasteret.build("rt-e2e/gcs-private", name="g0", backend=anonymous, progress=False)
    assert "anonymous" in str(err.value) and "GOOGLE_APPLICATION_CREDENTIALS" in str(err.value)

    signed = rasteret.create_backend(
        credential_provider=GcsToken(), gcs_config={"base_url": gcs_proxy.url}
    )
    coll = rasteret.build("rt-e2e/gcs-private", name="g1", backend=signed, progress=False)
    assert_reads_match(coll, scenes)
    with pytest.raises(ReadError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        assert_reads_match(coll, scenes, backend=anonymous)


def test_plain_http(
    http_root: str, dataset, scenes: list[Scene], nginx_server: NginxServer
) -> None:
    dataset("rt-e2e/http", lambda key: f"{http_root}/{key}")
    mark = nginx_server.mark()
    coll = rasteret.build("rt-e2e/http", name="http", progress=False)
    assert_reads_match(coll, scenes)
    seen = nginx_server.requests(since=mark)
    assert seen and all(r["authorization"] is False for r in seen)


def test_http_refusal_names_the_url(
    http_root: str, dataset, nginx_server: NginxServer, fault_proxy
) -> None:
    proxy = fault_proxy(nginx_server.url)
    proxy.fail(403, path=r"\.tif$")
    root = http_root.replace(nginx_server.url, proxy.url)
    dataset("rt-e2e/http-refused", lambda key: f"{root}/{key}")
    with pytest.raises(BuildError) as err:
        rasteret.build("rt-e2e/http-refused", name="refused", progress=False)
    message = str(err.value)
    assert f"access to {root}/scenes/e2e-0/red.tif was denied (HTTP 403" in message
    assert "the server requires authorisation" in message


def test_presigned_hrefs_in_a_record_table_are_stored_unsigned(
    http_root: str, scenes: list[Scene], nginx_server: NginxServer
) -> None:
    signature = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLEKEY%2F20240601"
        f"&X-Amz-Security-Token=session-token-for-e2e&X-Amz-Signature={signature}"
    )
    rows = [
        {
            "id": s.id,
            "datetime": s.datetime,
            "geometry": s.footprint.wkb,
            "assets": {b: {"href": f"{http_root}/{s.key(b)}?{query}"} for b in BANDS},
            "quicklook": f"{http_root}/{s.id}.png?{query}",
        }
        for s in scenes
    ]
    coll = rasteret.build_from_table(
        pa.Table.from_pylist(rows), name="presigned", band_codes=list(BANDS), progress=False
    )
    assert stored_hrefs(coll) == sorted(f"{http_root}/{s.key(b)}" for s in scenes for b in BANDS)
    quicklooks = coll.to_table(columns=["quicklook"]).column("quicklook").to_pylist()
    assert sorted(quicklooks) == sorted(f"{http_root}/{s.id}.png" for s in scenes)
    written = collection_bytes(coll)
    for secret in (signature, "session-token-for-e2e", "ASIAEXAMPLEKEY", "X-Amz"):
        assert secret.encode() not in written
    assert_reads_match(coll, scenes)
