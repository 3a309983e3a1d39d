"""Session fixtures leave nothing running: a separate pytest session uses every server fixture,
reports their PIDs and ports, and after it exits all of them are gone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.servers._proc import REPO_ROOT
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
