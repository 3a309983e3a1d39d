"""moto S3 (and IAM/STS) server on 127.0.0.1, run as a subprocess so its global state, threads
and GIL stay out of the test process.

Without ``iam_auth`` any credentials are accepted (use :data:`DUMMY_KEYS`). With ``iam_auth=True``
moto enforces IAM: requests must be signed with keys of an IAM user whose policy allows the action.
The server then keeps an admin user (:attr:`MotoServer.admin_keys`) for the helpers and
:meth:`MotoServer.client`, and :meth:`MotoServer.create_user` makes users with a given policy.
"""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers._proc import LoopbackServer, http_ok

REGION = "us-east-1"


@dataclass(frozen=True)
class AccessKeys:
    """An access key pair (repr hides the secret)."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"AccessKeys(access_key_id={self.access_key_id!r}, secret_access_key='***')"

    def as_env(self) -> dict[str, str]:
        """AWS_* environment variables for these keys (for GDAL /vsis3/ or subprocesses)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


DUMMY_KEYS = AccessKeys("testing", "testing")

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def read_only_policy(*buckets: str) -> dict[str, Any]:
    """An IAM policy that allows reading and listing these buckets."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
            for bucket in buckets
        ],
    }


class MotoServer(LoopbackServer):
    """moto_server on 127.0.0.1 (``endpoint`` = http://127.0.0.1:PORT), stopped on exit."""

    kind = "moto"

    def __init__(self, *, iam_auth: bool = False) -> None:
        super().__init__()
        self.iam_auth = iam_auth
        self.admin_keys: AccessKeys = DUMMY_KEYS

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    url = endpoint

    def _start(self, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "inf"

        def launch(port: int) -> None:
            self.port = port
            self._serve(
                "moto",
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port],
                ready=lambda: http_ok(f"{self.endpoint}/moto-api/data.json"),
                log_path=workdir / "moto.log",
                env=env,
                cwd=workdir,
            )

        self._on_free_port(launch)
        if self.iam_auth:
            self._enable_iam_auth()

    def _enable_iam_auth(self) -> None:
        # Auth is off while the admin user is created, then enforced for every later request.
        self.admin_keys = self.create_user("rasteret-admin", ALLOW_ALL)
        req = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def client(self, service: str = "s3", keys: AccessKeys | None = None) -> Any:
        """A boto3 client for this server (admin keys by default, dummy keys without IAM)."""
        import boto3
        from botocore.config import Config

        k = keys or self.admin_keys
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=k.access_key_id,
            aws_secret_access_key=k.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def create_bucket(self, name: str, *, region: str = REGION) -> None:
        """Create bucket ``name`` (in ``region``; moto reports it in x-amz-bucket-region)."""
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != REGION:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.client().create_bucket(**kwargs)

    def upload(self, bucket: str, key: str, data: Path | str | bytes) -> None:
        """Put a local file (path) or ``bytes`` at ``s3://bucket/key``."""
        body = data if isinstance(data, bytes) else Path(data).read_bytes()
        self.client().upload_fileobj(io.BytesIO(body), bucket, key)

    def create_user(self, name: str, policy: Mapping[str, Any]) -> AccessKeys:
        """Create IAM user ``name`` with an inline ``policy`` document and return new access keys."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return AccessKeys(key["AccessKeyId"], key["SecretAccessKey"])
