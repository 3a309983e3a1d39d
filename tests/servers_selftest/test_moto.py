"""moto serves S3 to boto3, obstore and GDAL; with IAM auth it enforces keys and policies; it stops."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions
import numpy as np
import obstore
import pytest
import rasterio
from obstore.exceptions import PermissionDeniedError
from obstore.store import S3Store
from rasterio.session import AWSSession

from tests.servers.moto import AccessKeys, MotoServer, read_only_policy
from tests.servers_selftest.conftest import assert_stopped


def s3_store(server: MotoServer, bucket: str, keys: AccessKeys | None, **kw) -> S3Store:
    creds = (
        {"access_key_id": keys.access_key_id, "secret_access_key": keys.secret_access_key}
        if keys
        else {"skip_signature": True}
    )
    return S3Store(
        bucket,
        endpoint=server.endpoint,
        region="us-east-1",
        client_options={"allow_http": True},
        retry_config={"max_retries": 0},
        **creds,
        **kw,
    )


def test_upload_then_read_with_obstore_and_gdal(
    moto_server: MotoServer, cog_path: Path, cog_pixels
):
    moto_server.create_bucket("selftest-moto")
    moto_server.upload("selftest-moto", "scenes/cog.tif", cog_path)
    raw = cog_path.read_bytes()

    store = s3_store(moto_server, "selftest-moto", moto_server.admin_keys)
    assert bytes(obstore.get_range(store, "scenes/cog.tif", start=100, end=5000)) == raw[100:5000]
    assert obstore.head(store, "scenes/cog.tif")["size"] == len(raw)
    listed = [m["path"] for batch in obstore.list(store, prefix="scenes/") for m in batch]
    assert listed == ["scenes/cog.tif"]

    session = AWSSession(
        aws_access_key_id=moto_server.admin_keys.access_key_id,
        aws_secret_access_key=moto_server.admin_keys.secret_access_key,
        endpoint_url=f"127.0.0.1:{moto_server.port}",
        region_name="us-east-1",
    )
    with rasterio.Env(session=session, AWS_HTTPS="NO", AWS_VIRTUAL_HOSTING="FALSE"):
        with rasterio.open("s3://selftest-moto/scenes/cog.tif") as src:
            np.testing.assert_array_equal(
                src.read(1, window=((0, 300), (0, 300))), cog_pixels[:300, :300]
            )


def test_bucket_region_is_reported(moto_server: MotoServer):
    moto_server.create_bucket("selftest-moto-eu", region="eu-west-1")
    head = moto_server.client().head_bucket(Bucket="selftest-moto-eu")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"


def test_iam_auth_enforces_keys_and_policies(moto_iam_server: MotoServer):
    server = moto_iam_server
    assert server.admin_keys.access_key_id != "testing"
    server.create_bucket("selftest-private")
    server.upload("selftest-private", "a.bin", b"0123456789")
    reader = server.create_user("selftest-reader", read_only_policy("selftest-private"))
    assert "secret" not in repr(reader).lower().replace("secret_access_key='***'", "")

    # The reader may read but not write.
    ok = s3_store(server, "selftest-private", reader)
    assert bytes(obstore.get_range(ok, "a.bin", start=2, end=6)) == b"2345"
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        server.client(keys=reader).put_object(Bucket="selftest-private", Key="b.bin", Body=b"x")

    # Unsigned requests and unknown keys are refused.
    with pytest.raises(PermissionDeniedError):
        obstore.get_range(s3_store(server, "selftest-private", None), "a.bin", start=0, end=4)
    with pytest.raises(PermissionDeniedError):
        obstore.get_range(
            s3_store(server, "selftest-private", AccessKeys("AKIAUNKNOWN000000000", "nope")),
            "a.bin",
            start=0,
            end=4,
        )


def test_stop_leaves_nothing_running():
    server = MotoServer().start()
    pid, port, workdir = server.pid, server.port, server.workdir
    try:
        server.create_bucket("selftest-stop")
    finally:
        server.stop()
    assert_stopped(pid, port, "moto")
    assert workdir is not None and not workdir.exists()
