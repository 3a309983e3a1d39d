"""Latency, bandwidth and fault-injecting proxy in front of a loopback server, in its own process.

``FaultProxy(upstream)`` starts ``python -m tests.servers.proxy`` (see
:mod:`tests.servers.proxy_engine`) so the proxy never competes for the test process's GIL, and
drives it through its control endpoint::

    with FaultProxy(nginx.url, latency_ms=20) as proxy:
        proxy.fail(503, path=r"\\.tif$", times=2)       # next two .tif requests get 503 SlowDown
        proxy.fail(403, headers={"x-amz-request-payer": None})  # requester pays not enabled
        proxy.reset(times=1)                             # next request: connection reset
        proxy.truncate(1000, times=1)                    # next response cut after 1000 bytes
        ... read through proxy.url ...
        assert [r["status"] for r in proxy.requests()] == [...]
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.servers._proc import REPO_ROOT, LoopbackServer, log_tail
from tests.servers.tls import LocalCA


def _upstream_address(upstream: str) -> str:
    """``host:port`` from a URL (http://127.0.0.1:PORT) or a bare ``host:port``."""
    if "://" in upstream:
        parts = urlsplit(upstream)
        if parts.port is None:
            raise ValueError(f"upstream URL needs an explicit port: {upstream}")
        return f"{parts.hostname}:{parts.port}"
    return upstream


class FaultProxy(LoopbackServer):
    """The proxy process; ``url`` is where clients connect instead of the upstream.

    mode: ``"http"`` (parses HTTP/1.1: rules and request log) or ``"tcp"`` (pipes bytes:
    latency and bandwidth only; cheapest, and passes TLS through).
    latency_ms: added before every response and to every new connection (one round trip).
    bandwidth_mbps: cap on response bytes, shared by all connections (None: no cap).
    record: keep the request log (turn off for long benchmarks).
    tls: serve HTTPS to clients with this CA's server certificate (http mode).
    cpus: pin the proxy process to these CPUs (benchmarks keep it off the measured cores).
    """

    kind = "proxy"

    def __init__(
        self,
        upstream: str,
        *,
        latency_ms: float = 0.0,
        bandwidth_mbps: float | None = None,
        mode: str = "http",
        record: bool = True,
        tls: LocalCA | None = None,
        cpus: set[int] | None = None,
    ) -> None:
        super().__init__()
        self.upstream = _upstream_address(upstream)
        self.latency_ms = latency_ms
        self.bandwidth_mbps = bandwidth_mbps
        self.mode = mode
        self.record = record
        self.tls = tls
        self.cpus = cpus
        self.control_port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    endpoint = url

    def _start(self, workdir: Path) -> None:
        argv = [sys.executable, "-m", "tests.servers.proxy", "--upstream", self.upstream]
        argv += ["--mode", self.mode, "--latency-ms", str(self.latency_ms)]
        if self.bandwidth_mbps:
            argv += ["--bandwidth-mbps", str(self.bandwidth_mbps)]
        if not self.record:
            argv.append("--no-record")
        if self.tls:
            argv += ["--tls-cert", str(self.tls.cert_file), "--tls-key", str(self.tls.key_file)]
        proc = self._spawn("proxy", argv, log_path=workdir / "proxy.log", cwd=REPO_ROOT)
        if self.cpus:
            os.sched_setaffinity(proc.pid, self.cpus)
        proc.wait_ready(self._read_ports, timeout=20, what="test proxy")

    def _read_ports(self) -> bool:
        assert self.workdir is not None
        text = log_tail(self.workdir / "proxy.log", 20)
        listening = re.search(r"^LISTENING [\d.]+:(\d+)$", text, re.M)
        control = re.search(r"^CONTROL [\d.]+:(\d+)$", text, re.M)
        if listening and control:
            self.port, self.control_port = int(listening[1]), int(control[1])
            return True
        return False

    # ---- control -----------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}").get("error", e.reason)
            raise ValueError(f"test proxy refused {method} {path}: {detail}") from None

    def add_rule(self, action: str, **fields: Any) -> int:
        """Add a fault rule (fields of :class:`tests.servers.proxy_rules.Rule`); return its id."""
        return self._call("POST", "/rules", {"action": action, **fields})["id"]

    def fail(
        self,
        status: int,
        *,
        response_headers: Mapping[str, str] | None = None,
        body: str | None = None,
        **match: Any,
    ) -> int:
        """Answer matching requests with ``status`` (S3-style XML error body by default)."""
        extra = {"response_headers": dict(response_headers or {}), "body": body}
        return self.add_rule("status", status=status, **extra, **match)

    def reset(self, **match: Any) -> int:
        """Reset the connection (TCP RST) of matching requests."""
        return self.add_rule("reset", **match)

    def truncate(self, after_bytes: int, **match: Any) -> int:
        """Close the connection after ``after_bytes`` bytes of matching responses' bodies."""
        return self.add_rule("truncate", truncate_after=after_bytes, **match)

    def delay(self, ms: float, **match: Any) -> int:
        """Hold matching requests for ``ms`` extra milliseconds before forwarding them."""
        return self.add_rule("delay", delay_ms=ms, **match)

    def rules(self) -> list[dict[str, Any]]:
        """Current rules with their ``hits`` (applied) and ``seen`` (matched) counts."""
        return self._call("GET", "/rules")

    def remove_rule(self, rule_id: int) -> None:
        self._call("DELETE", f"/rules/{rule_id}")

    def clear_rules(self) -> None:
        self._call("DELETE", "/rules")

    def configure(
        self, *, latency_ms: float | None = None, bandwidth_mbps: float | None = None
    ) -> None:
        """Change latency and/or bandwidth cap (0 removes the cap) at run time."""
        cfg = {
            k: v
            for k, v in (("latency_ms", latency_ms), ("bandwidth_mbps", bandwidth_mbps))
            if v is not None
        }
        self._call("POST", "/config", cfg)

    def mark(self) -> int:
        """The number of requests recorded so far; pass it to :meth:`requests` as ``since``."""
        return self._call("GET", "/requests/count")["count"]

    def requests(self, since: int | None = None) -> list[dict[str, Any]]:
        """Recorded requests (after the :meth:`mark` ``since``), oldest first, once finished.

        Each entry: seq, time, conn (client connection number), method, path (decoded, no
        query), query (signature-like values REDACTED), range, request_payer, authorization and
        security_token (presence only), headers (a safe subset), status, bytes (response body
        bytes sent), rule (id of the rule applied or None), outcome (ok, fault, reset,
        truncated, interrupted, upstream_error), duration_ms.
        """
        return self._call("GET", f"/requests?since={since or 0}")


if __name__ == "__main__":
    from tests.servers.proxy_engine import main

    main()
