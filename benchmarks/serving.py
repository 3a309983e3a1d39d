"""The benchmark's object store: nginx over HTTPS on 127.0.0.1 behind the project's latency proxy.

nginx serves ``<www_root>/<bucket>/<key>`` (a path-style S3 layout) with a throwaway local CA.
The reference implementation only reaches HTTPS servers whose CA the *system* trusts, so the CA
is installed system-wide for the duration of the run and removed afterwards (benchmark machines
are throwaway; the tests never do this). The proxy (``tests.servers.proxy`` in ``tcp`` mode: it
pipes bytes, so TLS passes through) adds ``latency_ms`` to every request and every new
connection and can cap the bandwidth. It listens on a fixed port when it can, so the URLs stored
in cached collections stay valid between runs. Requests and bytes are counted from nginx's log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests.servers._proc import REPO_ROOT, ManagedProcess, free_port, log_tail, port_open
from tests.servers.nginx import NginxServer
from tests.servers.tls import install_ca_system_wide, uninstall_ca_system_wide

DEFAULT_PORT = 18443
CA_NAME = "rasteret-bench-local-ca"


class BenchServers:
    """Start with ``with BenchServers(...) as servers:``; ``servers.base_url`` is the proxy."""

    def __init__(
        self,
        root: Path,
        *,
        latency_ms: float,
        bandwidth_mbps: float | None = None,
        port: int = DEFAULT_PORT,
        proxy_cpus: set[int] | None = None,
    ) -> None:
        self.root = Path(root)
        self.latency_ms = latency_ms
        self.bandwidth_mbps = bandwidth_mbps
        self.port = port
        self.proxy_cpus = proxy_cpus
        self.nginx: NginxServer | None = None
        self.proxy: ManagedProcess | None = None
        self._ca_installed = False

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> BenchServers:
        try:
            self.nginx = NginxServer(self.root, https=True).start()
            assert self.nginx.ca_file is not None
            install_ca_system_wide(self.nginx.ca_file, CA_NAME)
            self._ca_installed = True
            self._start_proxy()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_proxy(self) -> None:
        assert self.nginx is not None
        if port_open(self.port):
            self.port = free_port()
        log = self.nginx.workdir / "bench-proxy.log"  # type: ignore[operator]
        argv = [sys.executable, "-m", "tests.servers.proxy", "--mode", "tcp", "--no-record",
                "--upstream", f"127.0.0.1:{self.nginx.port}", "--listen", f"127.0.0.1:{self.port}",
                "--latency-ms", str(self.latency_ms)]  # fmt: skip
        if self.bandwidth_mbps:
            argv += ["--bandwidth-mbps", str(self.bandwidth_mbps)]
        self.proxy = ManagedProcess("bench-proxy", argv, log_path=log, cwd=REPO_ROOT)
        self.proxy.start()
        self.proxy.wait_ready(lambda: "LISTENING" in log_tail(log), timeout=20, what="proxy")
        if self.proxy_cpus:
            os.sched_setaffinity(self.proxy.pid, self.proxy_cpus)

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self._ca_installed:
            uninstall_ca_system_wide(CA_NAME)
            self._ca_installed = False
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None

    def __enter__(self) -> BenchServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # RequestLog protocol (see benchmarks.runner)
    def mark(self) -> int:
        assert self.nginx is not None
        return self.nginx.mark()

    def requests(self, since: int | None = None) -> list[dict[str, Any]]:
        assert self.nginx is not None
        return self.nginx.requests(since)

    def cpu_seconds(self) -> float:
        """CPU time used so far by nginx and the proxy: what serving took from the 2 cores."""
        assert self.nginx is not None and self.proxy is not None
        return sum(_cpu_seconds(pid) for pid in (self.nginx.pid, self.proxy.pid))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
