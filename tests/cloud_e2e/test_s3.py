"""Builds and reads on S3 (moto with IAM enforced): static keys, requester pays, temporary
credentials that expire mid-read, and url_patterns rewriting at build and at read time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import rasteret
from rasteret.errors import BuildError, ReadError
from tests.cloud_e2e.conftest import (
    PAYER,
    PRIVATE,
    S3World,
    Scene,
    assert_reads_match,
    collection_bytes,
    stored_hrefs,
)
from tests.servers.credentials import CredentialsServer
from tests.servers.nginx import NginxServer


def build(dataset_id: str, **kwargs):
    return rasteret.build(dataset_id, name=dataset_id.replace("/", "-"), progress=False, **kwargs)


def private_href(key: str) -> str:
    return f"s3://{PRIVATE}/{key}"


# --- private bucket, static keys ----------------------------------------------------------------


def test_private_bucket_with_static_keys(s3: S3World, dataset, scenes: list[Scene]) -> None:
    dataset("rt-e2e/s3-private", private_href, requires_auth=True)
    backend = rasteret.create_backend(default_s3_config=s3.config(keys=s3.reader))
    coll = build("rt-e2e/s3-private", backend=backend)
    assert coll.build_report.parsed == 4 and not coll.build_report.failures
    assert stored_hrefs(coll) == sorted(private_href(s.key(b)) for s in scenes for b in s.files)
    assert_reads_match(coll, scenes)

    # Reloaded from disk, the collection reads through the backend given to load().
    assert_reads_match(rasteret.load(coll.path, backend=backend), scenes)
    # No key is written to the collection or shown in a repr.
    written = collection_bytes(coll)
    secrets = (s3.reader.secret_access_key, s3.reader.access_key_id)
    for text in (written.decode("latin-1"), repr(coll), repr(coll.backend)):
        assert not any(secret in text for secret in secrets)


def test_private_bucket_without_credentials(s3: S3World, dataset, scenes: list[Scene]) -> None:
    dataset("rt-e2e/s3-auth", private_href, requires_auth=True)
    dataset("rt-e2e/s3-plain", private_href)
    no_keys = rasteret.create_backend(default_s3_config=s3.config(via_proxy=True))
    mark = s3.proxy.mark()
    # requires_auth: refused before any request, naming the dataset and what to set.
    with pytest.raises(BuildError) as err:
        build("rt-e2e/s3-auth", backend=no_keys)
    message = str(err.value)
    assert "no asset could be indexed" in message and "rt-e2e/s3-auth" in message
    assert "no credentials were found" in message and "AWS_ACCESS_KEY_ID" in message
    assert s3.proxy.requests(since=mark) == []
    # Without requires_auth the requests go out unsigned and the 403 says so.
    with pytest.raises(BuildError) as err:
        build("rt-e2e/s3-plain", backend=no_keys)
    assert "anonymous" in str(err.value) and "AWS_ACCESS_KEY_ID" in str(err.value)
    assert {r["status"] for r in s3.proxy.requests(since=mark)} == {403}

    # A collection built with keys cannot be read without them (the dataset requires auth).
    coll = build(
        "rt-e2e/s3-auth",
        backend=rasteret.create_backend(default_s3_config=s3.config(keys=s3.reader)),
    )
    with pytest.raises(ReadError) as err:
        assert_reads_match(rasteret.load(coll.path), scenes)
    assert "no credentials were found" in str(err.value) and "rt-e2e/s3-auth" in str(err.value)


# --- requester pays -----------------------------------------------------------------------------


def payer_href(key: str) -> str:
    return f"s3://{PAYER}/{key}"


def test_requester_pays_bucket(s3: S3World, dataset, scenes: list[Scene]) -> None:
    # S3 refuses requests to a requester-pays bucket without the header; moto does not, the
    # proxy does.
    s3.proxy.fail(403, path=f"^/{PAYER}/", headers={"x-amz-request-payer": None})
    dataset(
        "rt-e2e/s3-payer",
        payer_href,
        cloud_config={"requester_pays": True, "region": "us-east-1"},
    )
    backend = rasteret.create_backend(default_s3_config=s3.config(keys=s3.reader, via_proxy=True))
    mark = s3.proxy.mark()
    coll = build("rt-e2e/s3-payer", backend=backend)
    built = s3.proxy.requests(since=mark)
    mark = s3.proxy.mark()
    assert_reads_match(coll, scenes)
    read = s3.proxy.requests(since=mark)
    assert len(built) >= 4 and len(read) >= 4
    for request in built + read:
        assert request["request_payer"] == "requester" and request["authorization"]
        assert request["status"] == 206


def test_requester_pays_bucket_without_the_flag_or_keys(
    s3: S3World, dataset, scenes: list[Scene]
) -> None:
    s3.proxy.fail(403, path=f"^/{PAYER}/", headers={"x-amz-request-payer": None})
    dataset("rt-e2e/s3-payer-unflagged", payer_href)
    dataset("rt-e2e/s3-payer-flagged", payer_href, cloud_config={"requester_pays": True})
    with_keys = rasteret.create_backend(default_s3_config=s3.config(keys=s3.reader, via_proxy=True))
    with pytest.raises(BuildError) as err:
        build("rt-e2e/s3-payer-unflagged", backend=with_keys)
    assert "requester_pays" in str(err.value)
    no_keys = rasteret.create_backend(default_s3_config=s3.config(via_proxy=True))
    with pytest.raises(BuildError) as err:
        build("rt-e2e/s3-payer-flagged", backend=no_keys)
    assert "requester-pays" in str(err.value) and "no credentials were found" in str(err.value)


# --- temporary credentials (s3_credentials_url) -------------------------------------------------


def test_temporary_credentials_expire_mid_read(
    s3: S3World,
    dataset,
    scenes: list[Scene],
    credentials_server: CredentialsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EARTHDATA_TOKEN", "t0ken-for-e2e")
    credentials_server.s3_lifetime = 2.0  # refreshed 0.5 s early, deleted from moto at expiry
    dataset("rt-e2e/s3-temporary", private_href, s3_credentials_url=credentials_server.s3_url)
    # The user's backend only says where S3 is; the keys come from the dataset's endpoint.
    backend = rasteret.create_backend(default_s3_config=s3.config(via_proxy=True))
    coll = build("rt-e2e/s3-temporary", backend=backend)
    assert coll.build_report.parsed == 4
    time.sleep(2.0)  # the build's key is gone now
    # One slow read (every S3 request held 0.7 s, one at a time) outlives several keys.
    s3.proxy.delay(700, path=f"^/{PRIVATE}/")
    issued = len(credentials_server.issued_keys)
    started = time.monotonic()
    assert_reads_match(coll, scenes, max_concurrent=1)
    took = time.monotonic() - started
    new_keys = len(credentials_server.issued_keys) - issued
    assert took > 2.5 and new_keys >= 2, (took, new_keys)
    assert all(r["auth"] == "Bearer" for r in credentials_server.requests)
    assert "t0ken-for-e2e" not in collection_bytes(coll).decode("latin-1")


def test_temporary_credentials_without_a_login(
    s3: S3World,
    dataset,
    credentials_server: CredentialsServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in ("EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    dataset("rt-e2e/s3-no-login", private_href, s3_credentials_url=credentials_server.s3_url)
    backend = rasteret.create_backend(default_s3_config=s3.config())
    with pytest.raises(BuildError) as err:
        build("rt-e2e/s3-no-login", backend=backend)
    message = str(err.value)
    assert "S3CredentialsUrlProvider" in message and "EARTHDATA_TOKEN" in message
    assert credentials_server.requests == []


# --- url_patterns -------------------------------------------------------------------------------


def test_url_patterns_rewrite_at_build_time(
    s3: S3World, dataset, scenes: list[Scene], nginx_server: NginxServer
) -> None:
    cdn = f"{nginx_server.url}/rt-e2e-cdn/"  # nothing there: every file must come from S3
    dataset(
        "rt-e2e/s3-cdn",
        lambda key: cdn + key,
        cloud_config={"url_patterns": {cdn: f"s3://{PRIVATE}/"}},
    )
    backend = rasteret.create_backend(default_s3_config=s3.config(keys=s3.reader))
    mark = nginx_server.mark()
    coll = build("rt-e2e/s3-cdn", backend=backend)
    assert stored_hrefs(coll) == sorted(private_href(s.key(b)) for s in scenes for b in s.files)
    assert_reads_match(coll, scenes)
    assert nginx_server.requests(since=mark) == []


def test_url_patterns_rewrite_at_read_time(
    s3: S3World, dataset, scenes: list[Scene], http_root: str, nginx_server: NginxServer
) -> None:
    # Built when the files were on a web server; the dataset has moved to S3 since.
    dataset("rt-e2e/moved", lambda key: f"{http_root}/{key}")
    coll = build("rt-e2e/moved")
    assert all(h.startswith(http_root) for h in stored_hrefs(coll))
    dataset(
        "rt-e2e/moved",
        lambda key: f"{http_root}/{key}",
        cloud_config={"url_patterns": {f"{http_root}/": f"s3://{PRIVATE}/"}},
    )
    backend = rasteret.create_backend(default_s3_config=s3.config(keys=s3.reader, via_proxy=True))
    reloaded = rasteret.load(coll.path, backend=backend)
    nginx_mark, s3_mark = nginx_server.mark(), s3.proxy.mark()
    assert_reads_match(reloaded, scenes)
    assert nginx_server.requests(since=nginx_mark) == []
    s3_paths = {r["path"] for r in s3.proxy.requests(since=s3_mark)}
    assert s3_paths == {f"/{PRIVATE}/{s.key(b)}" for s in scenes for b in s.files}
