"""The fault proxy forwards faithfully (keep-alive, chunked, 100-continue, signatures), injects each
fault and delay it promises, records requests without secrets, and stops cleanly.

Timing checks are lower bounds only (a sleep never ends early); no upper bounds.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import boto3
import numpy as np
import obstore
import pytest
import rasterio
from botocore.config import Config
from obstore.exceptions import PermissionDeniedError
from obstore.store import HTTPStore, S3Store

from tests.servers._proc import REPO_ROOT, free_port
from tests.servers.moto import MotoServer
from tests.servers.nginx import NginxServer
from tests.servers.proxy import FaultProxy
from tests.servers_selftest.conftest import assert_stopped

BUCKET = "selftest-proxy"
KEY = f"{BUCKET}/cog.tif"
StartProxy = Callable[..., FaultProxy]


@pytest.fixture(scope="module")
def raw(nginx_server: NginxServer, nginx_root: Path, cog_path: Path) -> bytes:
    """The COG's bytes, also served by nginx at ``/<KEY>``."""
    (nginx_root / BUCKET).mkdir(exist_ok=True)
    shutil.copyfile(cog_path, nginx_root / KEY)
    return cog_path.read_bytes()


def http_store(proxy: FaultProxy, **client_options) -> HTTPStore:
    return HTTPStore.from_url(
        proxy.url,
        client_options={"allow_http": True, **client_options},
        retry_config={
            "max_retries": 3,
            "backoff": {
                "init_backoff": timedelta(milliseconds=10),
                "max_backoff": timedelta(milliseconds=50),
            },
        },
    )


def s3_store(proxy: FaultProxy, **kw) -> S3Store:
    return S3Store(
        BUCKET,
        endpoint=proxy.url,
        region="us-east-1",
        access_key_id="AKIAPROXYTEST",
        secret_access_key="proxy-secret-value-123",
        client_options={"allow_http": True},
        retry_config={"max_retries": 0},
        **kw,
    )


def get(proxy: FaultProxy, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()


def test_forwards_ranges_on_one_keep_alive_connection(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw: bytes
):
    proxy = fault_proxy(nginx_server.url)
    store = http_store(proxy)
    nginx_mark = nginx_server.mark()
    for i in range(5):
        got = obstore.get_range(store, KEY, start=i * 1000, end=i * 1000 + 500)
        assert bytes(got) == raw[i * 1000 : i * 1000 + 500]
    recs = proxy.requests()
    assert [r["range"] for r in recs] == [f"bytes={i * 1000}-{i * 1000 + 499}" for i in range(5)]
    assert [(r["status"], r["bytes"], r["outcome"]) for r in recs] == [(206, 500, "ok")] * 5
    assert len({r["conn"] for r in recs}) == 1
    upstream = nginx_server.requests(since=nginx_mark)
    assert len({r["connection"] for r in upstream}) == 1
    assert [r["connection_requests"] for r in upstream] == [1, 2, 3, 4, 5]


def test_rasterio_reads_through_proxy(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw, cog_pixels
):
    proxy = fault_proxy(nginx_server.url)
    with rasterio.open(f"/vsicurl/{proxy.url}/{KEY}") as src:
        np.testing.assert_array_equal(src.read(1), cog_pixels)
    assert all(r["status"] in (200, 206) for r in proxy.requests())


def test_latency_per_request_and_configurable(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw
):
    proxy = fault_proxy(nginx_server.url, latency_ms=60)
    store = http_store(proxy)
    obstore.get_range(store, KEY, start=0, end=10)  # new connection: 2 x latency
    t0 = time.perf_counter()
    obstore.get_range(store, KEY, start=10, end=20)
    assert time.perf_counter() - t0 >= 0.060
    proxy.configure(latency_ms=150)
    t0 = time.perf_counter()
    obstore.get_range(store, KEY, start=20, end=30)
    assert time.perf_counter() - t0 >= 0.150


def test_bandwidth_cap(fault_proxy: StartProxy, nginx_server: NginxServer, raw: bytes):
    proxy = fault_proxy(nginx_server.url, bandwidth_mbps=8)  # 1 MB/s
    t0 = time.perf_counter()
    got = obstore.get_range(http_store(proxy), KEY, start=0, end=300_000)
    assert bytes(got) == raw[:300_000]
    assert time.perf_counter() - t0 >= 0.3


def test_status_fault_for_next_k_requests(fault_proxy: StartProxy, nginx_server: NginxServer, raw):
    proxy = fault_proxy(nginx_server.url)
    rule = proxy.fail(503, times=2)
    got = obstore.get_range(http_store(proxy), KEY, start=0, end=100)  # obstore retries 503
    assert bytes(got) == raw[:100]
    recs = proxy.requests()
    assert [(r["status"], r["outcome"], r["rule"]) for r in recs] == [
        (503, "fault", rule),
        (503, "fault", rule),
        (206, "ok", None),
    ]
    (state,) = proxy.rules()
    assert (state["hits"], state["seen"]) == (2, 2)


def test_status_fault_body_headers_and_keep_alive(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw
):
    proxy = fault_proxy(nginx_server.url)
    proxy.fail(301, response_headers={"x-amz-bucket-region": "eu-west-1"}, path=rf"^/{BUCKET}/")
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", f"/{KEY}")
    resp = conn.getresponse()
    body = resp.read().decode()
    assert resp.status == 301
    assert resp.getheader("x-amz-bucket-region") == "eu-west-1"
    assert "<Code>PermanentRedirect</Code>" in body
    # The connection stays usable; a path outside the rule is forwarded.
    conn.request("GET", f"/{BUCKET}")
    assert conn.getresponse().status == 301  # nginx: directory redirect, not the rule
    assert [r["rule"] for r in proxy.requests()] == [1, None]


def test_requester_pays_emulation_with_header_rule(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw: bytes
):
    proxy = fault_proxy(nginx_server.url)
    proxy.fail(403, headers={"x-amz-request-payer": None})
    with pytest.raises(PermissionDeniedError):
        obstore.get_range(s3_store(proxy), "cog.tif", start=0, end=10)
    got = obstore.get_range(s3_store(proxy, request_payer=True), "cog.tif", start=0, end=10)
    assert bytes(got) == raw[:10]
    recs = proxy.requests()
    assert [(r["request_payer"], r["status"]) for r in recs] == [("", 403), ("requester", 206)]
    assert all(r["authorization"] for r in recs)
    dumped = json.dumps(recs)
    assert "proxy-secret-value-123" not in dumped and "Signature=" not in dumped


def test_match_by_path_method_query_and_skip(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw
):
    proxy = fault_proxy(nginx_server.url)
    proxy.fail(500, path=r"\.tif$", method="HEAD")
    proxy.fail(404, query=r"(^|&)flag=1", skip=1, times=1)
    assert get(proxy, f"/{KEY}", {"Range": "bytes=0-3"}).status == 206
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("HEAD", f"/{KEY}")
    assert conn.getresponse().status == 500
    statuses = [get(proxy, f"/{KEY}?flag=1", {"Range": "bytes=0-3"}).status for _ in range(3)]
    assert statuses == [206, 404, 206]


def test_reset_connection(fault_proxy: StartProxy, nginx_server: NginxServer, raw: bytes):
    proxy = fault_proxy(nginx_server.url)
    proxy.reset(times=1)
    with pytest.raises(ConnectionResetError):
        get(proxy, f"/{KEY}").read()
    # Next request goes through; obstore retries a reset by itself.
    proxy.reset(times=1)
    assert bytes(obstore.get_range(http_store(proxy), KEY, start=0, end=8)) == raw[:8]
    assert [r["outcome"] for r in proxy.requests()] == ["reset", "reset", "ok"]


def test_truncate_body(fault_proxy: StartProxy, nginx_server: NginxServer, raw: bytes):
    proxy = fault_proxy(nginx_server.url)
    proxy.truncate(1000, path=r"cog\.tif$", times=1)
    resp = get(proxy, f"/{KEY}")
    assert resp.status == 200 and resp.getheader("Content-Length") == str(len(raw))
    with pytest.raises(http.client.IncompleteRead) as err:
        resp.read()
    assert err.value.partial == raw[:1000]
    (rec,) = proxy.requests()
    assert (rec["outcome"], rec["bytes"], rec["status"]) == ("truncated", 1000, 200)


def test_delay_rule_only_for_matching_requests(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw
):
    proxy = fault_proxy(nginx_server.url)
    proxy.delay(300, headers={"range": r"^bytes=0-"})
    t0 = time.perf_counter()
    assert get(proxy, f"/{KEY}", {"Range": "bytes=0-9"}).read() == raw[:10]
    assert time.perf_counter() - t0 >= 0.3
    assert get(proxy, f"/{KEY}", {"Range": "bytes=10-19"}).read() == raw[10:20]
    assert [r["rule"] for r in proxy.requests()] == [1, None]


def test_chunked_bodies_both_ways_keep_framing(
    fault_proxy: StartProxy, nginx_server: NginxServer, raw
):
    proxy = fault_proxy(nginx_server.url)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    # nginx answers an autoindex listing with a chunked body.
    conn.request("GET", f"/{BUCKET}/")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert b"cog.tif" in resp.read()
    # A chunked request body is relayed whole (nginx answers 405 to a POST on a static file).
    conn.request("POST", f"/{KEY}", body=iter([b"abc", b"defg"]), encode_chunked=True)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 405
    conn.request("GET", f"/{KEY}", headers={"Range": "bytes=0-4"})
    assert conn.getresponse().read() == raw[:5]
    assert len({r["conn"] for r in proxy.requests()}) == 1


def test_moto_upstream_signed_put_and_get(
    fault_proxy: StartProxy, moto_iam_server: MotoServer, cog_path: Path
):
    """Signed boto3 PUT (Expect: 100-continue) and obstore GET pass IAM auth through the proxy."""
    moto_iam_server.create_bucket("selftest-proxy-moto")
    proxy = fault_proxy(moto_iam_server.endpoint)
    keys = moto_iam_server.admin_keys
    s3 = boto3.client(
        "s3",
        endpoint_url=proxy.url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(s3={"addressing_style": "path"}),
    )
    s3.upload_file(str(cog_path), "selftest-proxy-moto", "k/cog.tif")
    store = S3Store(
        "selftest-proxy-moto",
        endpoint=proxy.url,
        region="us-east-1",
        access_key_id=keys.access_key_id,
        secret_access_key=keys.secret_access_key,
        client_options={"allow_http": True},
    )
    assert (
        bytes(obstore.get_range(store, "k/cog.tif", start=0, end=4096))
        == cog_path.read_bytes()[:4096]
    )
    recs = proxy.requests()
    assert [(r["method"], r["status"]) for r in recs] == [("PUT", 200), ("GET", 206)]
    assert recs[0]["headers"].get("expect") == "100-continue"
    assert all(r["authorization"] for r in recs)


def test_https_listener(fault_proxy: StartProxy, nginx_server: NginxServer, raw, tmp_path: Path):
    from tests.servers.tls import LocalCA

    ca = LocalCA.create(tmp_path / "tls")
    proxy = fault_proxy(nginx_server.url, tls=ca)
    assert proxy.url.startswith("https://")
    store = HTTPStore.from_url(proxy.url, client_options={"root_certificate": ca.ca_pem})
    assert bytes(obstore.get_range(store, KEY, start=0, end=32)) == raw[:32]
    assert [r["range"] for r in proxy.requests()] == ["bytes=0-31"]


def test_tcp_mode_passes_tls_through_with_latency(
    fault_proxy: StartProxy, tmp_path: Path, cog_path: Path
):
    shutil.copyfile(cog_path, tmp_path / "cog.tif")
    with NginxServer(tmp_path, https=True) as server:
        proxy = fault_proxy(f"127.0.0.1:{server.port}", mode="tcp", latency_ms=50)
        pem = server.ca_file.read_text()
        store = HTTPStore.from_url(
            f"https://127.0.0.1:{proxy.port}", client_options={"root_certificate": pem}
        )
        obstore.get_range(store, "cog.tif", start=0, end=8)
        t0 = time.perf_counter()
        assert (
            bytes(obstore.get_range(store, "cog.tif", start=8, end=64))
            == cog_path.read_bytes()[8:64]
        )
        assert time.perf_counter() - t0 >= 0.050
        with pytest.raises(ValueError, match="http mode"):
            proxy.fail(500)


def test_query_secrets_are_redacted(fault_proxy: StartProxy, nginx_server: NginxServer, raw):
    proxy = fault_proxy(nginx_server.url)
    query = "X-Amz-Credential=AKIA123&X-Amz-Signature=deadbeef&sig=azuresig&list-type=2"
    get(proxy, f"/{KEY}?{query}", {"Authorization": "AWS4-HMAC-SHA256 Signature=topsecret"}).read()
    (rec,) = proxy.requests()
    assert "list-type=2" in rec["query"]
    dumped = json.dumps(rec)
    for secret in ("AKIA123", "deadbeef", "azuresig", "topsecret"):
        assert secret not in dumped
    assert rec["authorization"] is True


def test_bad_rules_are_refused(fault_proxy: StartProxy, nginx_server: NginxServer):
    proxy = fault_proxy(nginx_server.url)
    with pytest.raises(ValueError, match="status"):
        proxy.add_rule("status")
    with pytest.raises(ValueError, match="unknown rule fields"):
        proxy.add_rule("reset", pathh="x")
    with pytest.raises(ValueError, match="action"):
        proxy.add_rule("explode")
    first = proxy.fail(500)
    proxy.reset()
    proxy.remove_rule(first)
    assert [r["action"] for r in proxy.rules()] == ["reset"]
    proxy.clear_rules()
    assert proxy.rules() == []


def test_unreachable_upstream_gives_502(fault_proxy: StartProxy):
    proxy = fault_proxy(f"127.0.0.1:{free_port()}")  # nothing listens there
    resp = get(proxy, "/anything")
    assert resp.status == 502
    assert b"upstream unreachable" in resp.read()
    assert [(r["status"], r["outcome"]) for r in proxy.requests()] == [(502, "upstream_error")]


def test_upstream_must_be_loopback():
    res = subprocess.run(
        [sys.executable, "-m", "tests.servers.proxy", "--upstream", "10.1.2.3:80"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode != 0
    assert "only loopback" in res.stderr


def test_stop_leaves_nothing_running(nginx_server: NginxServer):
    proxy = FaultProxy(nginx_server.url).start()
    pid, port, control = proxy.pid, proxy.port, proxy.control_port
    proxy.stop()
    assert_stopped(pid, port, "proxy")
    assert_stopped(pid, control, "proxy")
