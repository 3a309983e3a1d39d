"""Local credential and token endpoints (stdlib HTTP server in a thread, on 127.0.0.1).

- ``GET /s3credentials``: temporary S3 keys in NASA Earthdata's JSON shape (accessKeyId,
  secretAccessKey, sessionToken, expiration). Each answer is a new IAM user with its own key on
  an IAM-enforcing moto server; the key is deleted when it expires, so moto really refuses it
  afterwards. Requires ``Authorization: Bearer <token>`` or basic auth with the configured login.
- ``GET /sas/<account>/<container>``: a container SAS token in Planetary Computer's shape
  (``{"token", "msft:expiry"}``), signed by a callable (Azurite's key), optionally requiring an
  ``Ocp-Apim-Subscription-Key`` header. ``bad_sas`` makes the next answers carry a token with a
  wrong signature but a far expiry (to test the refresh-once-on-403 path).

Every request is recorded in :attr:`CredentialsServer.requests` (path and which auth it carried,
never the secret itself).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SasSigner = Callable[[str, datetime, bool], str]
"""``(container, expires_at, valid) -> sas token``; ``valid=False`` gives a wrongly signed one."""


class CredentialsServer:
    """Credential/token endpoints on 127.0.0.1 (``url`` = http://127.0.0.1:PORT)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        login: tuple[str, str] | None = None,
        iam: Any | None = None,
        s3_policy: dict[str, Any] | None = None,
        s3_lifetime: float = 4.0,
        sas_signer: SasSigner | None = None,
        sas_lifetime: float = 4.0,
        subscription_key: str | None = None,
    ) -> None:
        self.token = token
        self.login = login
        self.iam = iam
        self.s3_policy = s3_policy
        self.s3_lifetime = s3_lifetime
        self.sas_signer = sas_signer
        self.sas_lifetime = sas_lifetime
        self.subscription_key = subscription_key
        self.bad_sas = 0
        self.requests: list[dict[str, Any]] = []
        self.issued_keys: list[str] = []
        self._live_users: dict[str, str] = {}
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._serial = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def s3_url(self) -> str:
        return f"{self.url}/s3credentials"

    @property
    def sas_url(self) -> str:
        return f"{self.url}/sas"

    def count(self, prefix: str) -> int:
        """How many requests went to paths starting with ``prefix``."""
        return sum(1 for r in self.requests if r["path"].startswith(prefix))

    def start(self) -> CredentialsServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                server._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> CredentialsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- S3 keys -----------------------------------------------------------------------------

    def revoke_s3(self) -> None:
        """Delete every key issued so far, before its expiry (moto then refuses it)."""
        with self._lock:
            users = list(self._live_users.items())
        for user, key_id in users:
            self._delete_key(user, key_id)

    def _issue_s3(self) -> dict[str, Any]:
        assert self.iam is not None, "CredentialsServer(iam=...) is needed for /s3credentials"
        with self._lock:
            self._serial += 1
            user = f"temp-reader-{self._serial}-{int(time.time() * 1000)}"
        self.iam.create_user(UserName=user)
        self.iam.put_user_policy(
            UserName=user, PolicyName="read", PolicyDocument=json.dumps(self.s3_policy)
        )
        key = self.iam.create_access_key(UserName=user)["AccessKey"]
        expires = datetime.now(UTC) + timedelta(seconds=self.s3_lifetime)
        with self._lock:
            self._live_users[user] = key["AccessKeyId"]
            self.issued_keys.append(key["AccessKeyId"])
        timer = threading.Timer(self.s3_lifetime, self._delete_key, (user, key["AccessKeyId"]))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        return {
            "accessKeyId": key["AccessKeyId"],
            "secretAccessKey": key["SecretAccessKey"],
            "sessionToken": "",
            # NASA's endpoints answer Python's str(datetime): a space, not a 'T'.
            "expiration": str(expires.replace(microsecond=0)),
        }

    def _delete_key(self, user: str, key_id: str) -> None:
        with self._lock:
            if self._live_users.get(user) != key_id:
                return
            del self._live_users[user]
        try:
            self.iam.delete_access_key(UserName=user, AccessKeyId=key_id)
        except Exception:  # noqa: BLE001 - the server may already be gone at teardown
            pass

    # --- SAS tokens --------------------------------------------------------------------------

    def _issue_sas(self, account: str, container: str) -> dict[str, Any]:
        assert self.sas_signer is not None, "CredentialsServer(sas_signer=...) is needed"
        valid = True
        with self._lock:
            if self.bad_sas > 0:
                self.bad_sas -= 1
                valid = False
        lifetime = self.sas_lifetime if valid else 3600
        expires = datetime.now(UTC) + timedelta(seconds=lifetime)
        return {
            "msft:expiry": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": self.sas_signer(container, expires, valid),
        }

    # --- HTTP ----------------------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        if self.token is None and self.login is None:
            return True
        if header is None:
            return False
        if self.token is not None and header == f"Bearer {self.token}":
            return True
        if self.login is not None and header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return (user, password) == self.login
        return False

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization")
        record = {
            "path": h.path,
            "auth": auth.split(" ", 1)[0] if auth else None,
            "subscription_key": h.headers.get("Ocp-Apim-Subscription-Key") is not None,
        }
        with self._lock:
            self.requests.append(record)
        parts = h.path.strip("/").split("/")
        status, body = 404, {"error": "not found"}
        if parts[0] == "s3credentials":
            if not self._authorised(auth):
                status, body = 401, {"error": "login required"}
            else:
                status, body = 200, self._issue_s3()
        elif parts[0] == "sas" and len(parts) == 3:
            key = h.headers.get("Ocp-Apim-Subscription-Key")
            if self.subscription_key is not None and key != self.subscription_key:
                status, body = 403, {"error": "bad subscription key"}
            else:
                status, body = 200, self._issue_sas(parts[1], parts[2])
        data = json.dumps(body).encode()
        h.send_response(status)
        if status == 401:
            h.send_header("WWW-Authenticate", 'Basic realm="test"')
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
