"""nginx serves ranges, ETags and path-style S3 to obstore and GDAL, logs what it served, and stops."""

from __future__ import annotations

import shutil
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import obstore
import pytest
import rasterio
from obstore.store import HTTPStore, S3Store
from rasterio.session import AWSSession

from tests.servers._proc import ServerStartError
from tests.servers.nginx import NginxServer
from tests.servers_selftest.conftest import assert_stopped

BUCKET = "selftest-nginx"


@pytest.fixture(scope="module")
def served(nginx_server: NginxServer, nginx_root: Path, cog_path: Path) -> str:
    """Key of the COG inside the shared nginx root (``<bucket>/cog.tif``)."""
    (nginx_root / BUCKET).mkdir(exist_ok=True)
    shutil.copyfile(cog_path, nginx_root / BUCKET / "cog.tif")
    return f"{BUCKET}/cog.tif"


def test_obstore_http_ranges_and_etag(nginx_server: NginxServer, served: str, cog_path: Path):
    raw = cog_path.read_bytes()
    store = HTTPStore.from_url(nginx_server.url, client_options={"allow_http": True})
    mark = nginx_server.mark()
    spans = [(0, 100), (5000, 9096), (len(raw) - 10, len(raw))]
    got = [obstore.get_range(store, served, start=a, end=b) for a, b in spans]
    assert [bytes(g) for g in got] == [raw[:100], raw[5000:9096], raw[-10:]]
    meta = obstore.head(store, served)
    assert meta["size"] == len(raw)
    assert meta["e_tag"] and meta["e_tag"].strip('"')

    reqs = [r for r in nginx_server.requests(since=mark) if r["method"] == "GET"]
    assert sorted(r["range"] for r in reqs) == sorted(
        ["bytes=0-99", "bytes=5000-9095", f"bytes={len(raw) - 10}-{len(raw) - 1}"]
    )
    assert all(r["status"] == 206 and r["path"] == f"/{served}" for r in reqs)
    assert sum(r["bytes"] for r in reqs) == 100 + 4096 + 10
    assert not any(r["authorization"] for r in reqs)


def test_if_match_mismatch_is_rejected(nginx_server: NginxServer, served: str):
    req = urllib.request.Request(
        f"{nginx_server.url}/{served}", headers={"If-Match": '"not-the-etag"', "Range": "bytes=0-9"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 412


def test_rasterio_vsicurl_matches_local(nginx_server: NginxServer, served: str, cog_pixels):
    with rasterio.open(f"/vsicurl/{nginx_server.url}/{served}") as src:
        window = src.read(1, window=((100, 400), (200, 560)))
    np.testing.assert_array_equal(window, cog_pixels[100:400, 200:560])


def test_path_style_s3_with_obstore(nginx_server: NginxServer, served: str, cog_path: Path):
    store = S3Store(
        BUCKET,
        endpoint=nginx_server.url,
        region="us-east-1",
        access_key_id="x",
        secret_access_key="y",
        request_payer=True,
        client_options={"allow_http": True},
    )
    mark = nginx_server.mark()
    got = obstore.get_range(store, "cog.tif", start=10, end=2000)
    assert bytes(got) == cog_path.read_bytes()[10:2000]
    (entry,) = nginx_server.requests(since=mark)
    assert entry["path"] == f"/{served}"
    assert entry["request_payer"] == "requester"
    assert entry["authorization"] is True
    assert entry["range"] == "bytes=10-1999"


def test_path_style_s3_with_gdal(nginx_server: NginxServer, served: str, cog_pixels):
    session = AWSSession(
        aws_unsigned=True, endpoint_url=f"127.0.0.1:{nginx_server.port}", region_name="us-east-1"
    )
    with rasterio.Env(session=session, AWS_HTTPS="NO", AWS_VIRTUAL_HOSTING="FALSE"):
        with rasterio.open(f"s3://{served}") as src:
            np.testing.assert_array_equal(src.read(1), cog_pixels)


def test_https_with_local_ca(tmp_path: Path, cog_path: Path, cog_pixels):
    shutil.copyfile(cog_path, tmp_path / "cog.tif")
    with NginxServer(tmp_path, https=True) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.ca_file is not None
        url = f"{server.url}/cog.tif"
        # Verification is on: without the CA the certificate is refused.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context())
        ctx = ssl.create_default_context(cafile=str(server.ca_file))
        with urllib.request.urlopen(url, timeout=5, context=ctx) as r:
            assert r.read() == cog_path.read_bytes()

        pem = server.ca_file.read_text()
        store = HTTPStore.from_url(server.url, client_options={"root_certificate": pem})
        assert (
            bytes(obstore.get_range(store, "cog.tif", start=0, end=64))
            == cog_path.read_bytes()[:64]
        )

        with rasterio.Env(GDAL_CURL_CA_BUNDLE=str(server.ca_file)):
            with rasterio.open(f"/vsicurl/{url}") as src:
                np.testing.assert_array_equal(src.read(1), cog_pixels)
        pid, port = server.pid, server.port
    assert_stopped(pid, port, "nginx")


def test_stop_leaves_nothing_running(tmp_path: Path):
    (tmp_path / "f.txt").write_text("x")
    server = NginxServer(tmp_path).start()
    pid, port, workdir = server.pid, server.port, server.workdir
    try:
        with urllib.request.urlopen(f"{server.url}/f.txt", timeout=5) as r:
            assert r.read() == b"x"
    finally:
        server.stop()
    assert_stopped(pid, port, "nginx")
    assert workdir is not None and not workdir.exists()


def test_failed_start_reports_log_tail_and_cleans_up(tmp_path: Path, monkeypatch):
    """Another process holds the port on every attempt: a clear error, nothing left running."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr("tests.servers._proc.free_port", lambda: port)
        run_dir = tmp_path / "run"  # this test's PID files only (other runs share .run/)
        monkeypatch.setattr("tests.servers._proc.RUN_DIR", run_dir)
        server = NginxServer(tmp_path)
        try:
            with pytest.raises(ServerStartError, match="Address already in use") as err:
                server.start()
        finally:
            server.stop()
    assert "error.log" in str(err.value)
    assert run_dir.is_dir() and list(run_dir.iterdir()) == []
