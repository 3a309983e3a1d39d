"""Nothing is left running: session fixtures stop every server, and servers die with a parent
that is killed outright (SIGKILL gives no chance to tear down)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.servers._proc import REPO_ROOT, RUN_DIR, port_open
from tests.servers_selftest.conftest import assert_stopped

INNER = """
import json
from pathlib import Path

def test_use_every_server(nginx_server, moto_server, moto_iam_server, stac_server, fault_proxy):
    proxy = fault_proxy(nginx_server.url)
    procs = [
        ("nginx", nginx_server.pid, nginx_server.port),
        ("moto", moto_server.pid, moto_server.port),
        ("moto", moto_iam_server.pid, moto_iam_server.port),
        ("postgres", stac_server.pids[0], stac_server.pg_port),
        ("stac-api", stac_server.pids[1], stac_server.port),
        ("proxy", proxy.pid, proxy.port),
    ]
    Path({out!r}).write_text(json.dumps(procs))
"""


def test_session_fixtures_stop_every_process(tmp_path: Path):
    out = tmp_path / "procs.json"
    inner = tmp_path / "test_inner.py"
    inner.write_text(INNER.format(out=str(out)))
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.servers.fixtures", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(inner)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    procs = json.loads(out.read_text())
    assert len(procs) == 6
    for name, pid, port in procs:
        assert_stopped(pid, port, name)


KILLED_PARENT = """
import json, sys, time
from pathlib import Path
from tests.servers.moto import MotoServer
from tests.servers.nginx import NginxServer
from tests.servers.proxy import FaultProxy
from tests.servers.stac import StacApiServer

nginx = NginxServer(Path(sys.argv[1])).start()
moto = MotoServer().start()
stac = StacApiServer().start()
proxy = FaultProxy(nginx.url).start()
procs = [("nginx", nginx.pid, nginx.port), ("moto", moto.pid, moto.port),
         ("postgres", stac.pids[0], stac.pg_port), ("stac-api", stac.pids[1], stac.port),
         ("proxy", proxy.pid, proxy.port)]
print(json.dumps(procs), flush=True)
time.sleep(600)
"""


def test_servers_die_with_a_killed_parent(tmp_path: Path):
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        procs = json.loads(parent.stdout.readline())
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
    assert len(procs) == 5
    deadline = time.monotonic() + 15
    alive = procs
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if _running(p[1])]
    for name, pid, _port in procs:  # the killed parent could not remove its PID files
        (RUN_DIR / f"{name}-{pid}.pid").unlink(missing_ok=True)
    assert alive == []
    assert not any(port_open(port) for _name, _pid, port in procs)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as stopped.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
