"""S3 through moto with IAM enforced: static keys, anonymous refusals, requester pays, regions."""

from __future__ import annotations

import pytest

from rasteret.errors import AccessDeniedError, ConfigError, StorageError
from rasteret.io import create_backend, run_sync
from tests.io.conftest import COG_KEY, PAYER, PRIVATE, REGIONAL, S3World

URL = f"s3://{PRIVATE}/{COG_KEY}"


def read_all(backend, url: str, size: int) -> bytes:
    """The object read as a prefix plus range reads of 7000 bytes (several requests)."""
    prefix, info = run_sync(backend.get_prefix(url, 4096))
    assert info.size == size
    chunks = [bytes(prefix)]
    for start in range(4096, size, 7000):
        chunks.append(bytes(run_sync(backend.get_range(url, start, min(size, start + 7000)))))
    return b"".join(chunks)


def test_private_bucket_with_static_keys(s3: S3World, cog_bytes: bytes) -> None:
    backend = create_backend(default_s3_config=s3.s3_config(keys=s3.reader))
    assert read_all(backend, URL, len(cog_bytes)) == cog_bytes
    info = run_sync(backend.head(URL))
    assert info.size == len(cog_bytes) and info.etag


def test_keys_from_environment_sign_requests(
    s3: S3World, cog_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.reader.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.reader.secret_access_key)
    backend = create_backend(default_s3_config=s3.s3_config())
    data = run_sync(backend.get_range(URL, 100, 300))
    assert bytes(data) == cog_bytes[100:300]


def test_anonymous_read_of_private_bucket_says_what_to_configure(s3: S3World) -> None:
    backend = create_backend(default_s3_config=s3.s3_config())
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(URL, 0, 100))
    message = str(err.value)
    assert URL in message
    assert "anonymous" in message
    assert "AWS_ACCESS_KEY_ID" in message and "requester_pays" in message


def test_wrong_keys_are_refused_without_echoing_them(s3: S3World) -> None:
    config = s3.s3_config()
    config.update(access_key_id="AKIAWRONGWRONGWRONG1", secret_access_key="wrong-secret-value-1")
    backend = create_backend(default_s3_config=config)
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(URL, 0, 100))
    message = str(err.value)
    assert "were refused" in message
    assert "AKIAWRONGWRONGWRONG1" not in message and "wrong-secret-value-1" not in message


def test_requires_auth_without_credentials_fails_before_any_request(s3: S3World) -> None:
    backend = create_backend(
        default_s3_config=s3.s3_config(via_proxy=True), requires_auth=True, label="acme/private"
    )
    mark = s3.proxy.mark()
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(URL, 0, 100))
    assert "acme/private" in str(err.value) and "no credentials were found" in str(err.value)
    assert s3.proxy.requests(since=mark) == []


def test_requester_pays_bucket(s3: S3World, cog_bytes: bytes) -> None:
    # The proxy plays S3's part: requests to the bucket without the payer header get 403.
    s3.proxy.fail(403, path=f"^/{PAYER}/", headers={"x-amz-request-payer": None})
    url = f"s3://{PAYER}/{COG_KEY}"
    config = s3.s3_config(via_proxy=True, keys=s3.reader)

    plain = create_backend(default_s3_config=config)
    with pytest.raises(AccessDeniedError) as err:
        run_sync(plain.get_range(url, 0, 100))
    assert "requester_pays" in str(err.value)

    mark = s3.proxy.mark()
    paying = create_backend(default_s3_config=config, cloud_config={"requester_pays": True})
    assert read_all(paying, url, len(cog_bytes)) == cog_bytes
    seen = s3.proxy.requests(since=mark)
    assert seen and all(r["request_payer"] == "requester" for r in seen)
    assert all(r["authorization"] for r in seen)


def test_requester_pays_without_credentials_says_so(s3: S3World) -> None:
    backend = create_backend(
        default_s3_config=s3.s3_config(via_proxy=True), cloud_config={"requester_pays": True}
    )
    with pytest.raises(AccessDeniedError) as err:
        run_sync(backend.get_range(f"s3://{PAYER}/{COG_KEY}", 0, 100))
    assert "requester-pays" in str(err.value)
    assert "AWS_ACCESS_KEY_ID" in str(err.value)


def test_requester_pays_and_anonymous_conflict() -> None:
    with pytest.raises(ConfigError, match="requester_pays"):
        create_backend(cloud_config={"requester_pays": True, "anonymous": True})


def test_wrong_region_301_is_corrected_once(s3: S3World, cog_bytes: bytes) -> None:
    # S3 answers a request signed for the wrong region with a bare 301; the bucket's HEAD
    # tells the real one. moto does neither, so the proxy does.
    s3.proxy.fail(
        301,
        path=f"^/{REGIONAL}/",
        headers={"authorization": r".*/us-east-1/s3/.*"},
        response_headers={"x-amz-bucket-region": "eu-west-1"},
    )
    head_rule = s3.proxy.fail(
        301,
        method="HEAD",
        path=f"^/{REGIONAL}/?$",
        response_headers={"x-amz-bucket-region": "eu-west-1"},
    )
    backend = create_backend(default_s3_config=s3.s3_config(via_proxy=True, keys=s3.reader))
    url = f"s3://{REGIONAL}/{COG_KEY}"
    assert read_all(backend, url, len(cog_bytes)) == cog_bytes
    rules = {r["id"]: r for r in s3.proxy.rules()}
    assert rules[head_rule]["hits"] == 1  # discovered once, then every read used eu-west-1


def test_wrong_region_400_names_the_region_in_its_body(s3: S3World, cog_bytes: bytes) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code>'
        "<Message>the region 'us-east-1' is wrong; expecting 'ap-south-1'</Message>"
        "<Region>ap-south-1</Region></Error>"
    )
    rule = s3.proxy.fail(
        400, path=f"^/{REGIONAL}/", headers={"authorization": r".*/us-east-1/s3/.*"}, body=body
    )
    backend = create_backend(default_s3_config=s3.s3_config(via_proxy=True, keys=s3.reader))
    data = run_sync(backend.get_range(f"s3://{REGIONAL}/{COG_KEY}", 10, 20))
    assert bytes(data) == cog_bytes[10:20]
    assert {r["id"]: r for r in s3.proxy.rules()}[rule]["hits"] == 1


def test_wrong_region_without_a_hint_says_how_to_set_it(s3: S3World) -> None:
    s3.proxy.fail(301, path=f"^/{REGIONAL}")
    backend = create_backend(default_s3_config=s3.s3_config(via_proxy=True, keys=s3.reader))
    with pytest.raises(StorageError, match="region="):
        run_sync(backend.get_range(f"s3://{REGIONAL}/{COG_KEY}", 0, 10))


def test_missing_object_is_not_found(s3: S3World) -> None:
    backend = create_backend(default_s3_config=s3.s3_config(keys=s3.reader))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_sync(backend.get_range(f"s3://{PRIVATE}/nope.tif", 0, 10))


def test_bucket_region_from_bucket_config_needs_no_correction(
    s3: S3World, cog_bytes: bytes
) -> None:
    rule = s3.proxy.fail(
        301, path=f"^/{REGIONAL}", headers={"authorization": r".*/us-east-1/s3/.*"}
    )
    backend = create_backend(
        default_s3_config=s3.s3_config(via_proxy=True, keys=s3.reader),
        bucket_config={REGIONAL: {"region": "eu-west-1"}},
    )
    data = run_sync(backend.get_range(f"s3://{REGIONAL}/{COG_KEY}", 0, 10))
    assert bytes(data) == cog_bytes[:10]
    assert {r["id"]: r for r in s3.proxy.rules()}[rule]["seen"] == 0
