"""nginx on 127.0.0.1 serving a folder: HTTP range reads and a read-only path-style S3 stand-in.

Files under ``root`` are served with Range, HEAD, ETag and If-Match support; ``root/<bucket>/<key>``
doubles as ``s3://<bucket>/<key>`` for obstore ``S3Store(endpoint=server.url, ...)`` and GDAL
``/vsis3/`` (nginx ignores the signature). GET/HEAD only: no LIST, no PUT. nginx's ETag is
mtime + size, so a test that rewrites a file must change its size or its mtime to change the ETag.

Every request is written as one JSON line to ``access_log``; :meth:`NginxServer.requests` parses it
so tests can count requests and bytes.
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.servers._proc import LoopbackServer, ServerStartError, log_tail
from tests.servers.tls import LocalCA

LOG_FORMAT = (
    '{"time":$msec,"method":"$request_method","path":"$uri","status":$status,'
    '"bytes":$body_bytes_sent,"range":"$http_range","request_payer":"$http_x_amz_request_payer",'
    '"authorization":$rt_has_auth,"connection":$connection,"connection_requests":$connection_requests}'
)

CONFIG = """\
daemon off;
master_process off;
worker_rlimit_nofile 16384;
pid {wd}/nginx.pid;
error_log {wd}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  map $http_authorization $rt_has_auth {{ "" false; default true; }}
  log_format rasteret escape=json '{log_format}';
  access_log {wd}/access.log rasteret;
  client_body_temp_path {wd}/tmp/body; proxy_temp_path {wd}/tmp/proxy;
  fastcgi_temp_path {wd}/tmp/fcgi; uwsgi_temp_path {wd}/tmp/uwsgi; scgi_temp_path {wd}/tmp/scgi;
  types {{
    image/tiff tif tiff; application/json json; application/geo+json geojson;
    application/vnd.apache.parquet parquet; text/plain txt;
  }}
  default_type application/octet-stream;
  sendfile on; tcp_nodelay on;
  keepalive_requests 1000000; keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port}{ssl};
{tls}    root {root};
    location / {{ autoindex on; }}
  }}
}}
"""


def nginx_binary() -> str:
    """Path of the nginx executable, or a clear error saying how to install it."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise ServerStartError("nginx is not installed: run `bash tools/system-deps.sh` (as root)")
    return found


class NginxServer(LoopbackServer):
    """nginx serving ``root`` on 127.0.0.1 (``https=True``: TLS with a throwaway CA in ``ca_file``)."""

    kind = "nginx"

    def __init__(self, root: Path, *, https: bool = False) -> None:
        super().__init__()
        self.root = Path(root).resolve()
        self.https = https
        self.ca: LocalCA | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """Same as :attr:`url` (the S3 endpoint for path-style access to ``root/<bucket>/<key>``)."""
        return self.url

    @property
    def ca_file(self) -> Path | None:
        """PEM file of the CA that signed the server certificate (HTTPS mode), else None."""
        return self.ca.ca_file if self.ca else None

    @property
    def access_log(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("nginx is not started")
        return self.workdir / "access.log"

    def _start(self, workdir: Path) -> None:
        if not self.root.is_dir():
            raise ServerStartError(f"nginx root {self.root} is not a directory")
        binary = nginx_binary()
        (workdir / "tmp").mkdir()
        if self.https:
            self.ca = LocalCA.create(workdir / "tls")
        self._on_free_port(lambda port: self._launch(binary, workdir, port))

    def _launch(self, binary: str, wd: Path, port: int) -> None:
        self.port = port
        tls = ""
        if self.ca:
            tls = f"    ssl_certificate {self.ca.cert_file};\n    ssl_certificate_key {self.ca.key_file};\n"
        conf = wd / "nginx.conf"
        conf.write_text(
            CONFIG.format(
                wd=wd,
                port=port,
                ssl=" ssl" if self.https else "",
                tls=tls,
                root=self.root,
                log_format=LOG_FORMAT,
            )
        )
        (wd / "access.log").write_text("")
        error_log = wd / "error.log"
        self._serve(
            "nginx",
            [binary, "-p", wd, "-e", error_log, "-c", conf],
            ready=self._answers,
            timeout=15,
            logs=[error_log],
            failed=lambda: "[emerg]" in log_tail(error_log),
            log_path=wd / "stdout.log",
            cwd=wd,
        )

    def _answers(self) -> bool:
        """nginx itself answers on the port (not another process that holds it)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=1, context=ctx) as r:
                return r.headers.get("Server", "").startswith("nginx")
        except urllib.error.HTTPError as e:
            return e.headers.get("Server", "").startswith("nginx")
        except (OSError, ValueError):
            return False

    def mark(self) -> int:
        """The number of requests logged so far; pass it to :meth:`requests` as ``since``."""
        return len(self._read_log())

    def requests(self, since: int | None = None) -> list[dict[str, Any]]:
        """Logged requests (after the :meth:`mark` ``since``), oldest first.

        Each entry: time, method, path, status, bytes (body bytes sent), range (the Range header
        or ""), request_payer (the x-amz-request-payer header or ""), authorization (whether an
        Authorization header was sent; never its value), connection and connection_requests.
        """
        entries = self._read_log()
        return entries[since or 0 :]

    def _read_log(self) -> list[dict[str, Any]]:
        # nginx logs a request right after its last byte is sent; wait until the log is stable
        # so that a client that has just received a response sees its entry.
        text = self.access_log.read_text()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            time.sleep(0.02)
            again = self.access_log.read_text()
            if again == text:
                break
            text = again
        return [json.loads(line) for line in text.splitlines() if line.strip()]
