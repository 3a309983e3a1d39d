"""Run one contender on one workload in a fresh process and account for what it did.

Requests and bytes come from the server's access log (entries logged between the start and the
end of the child process), time, peak RSS and the output digest from the child itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.config import REPO

# Variables that would let a child reach beyond loopback or read a developer's credentials.
_DROP = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_ENDPOINT_URL", "GOOGLE_APPLICATION_CREDENTIALS", "PYTHONPATH",
)  # fmt: skip
_ISOLATION = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "True",
    "NO_PROXY": "127.0.0.1,localhost",
    # rasterio's wheels bundle their own curl, which does not read the system trust store
    # (and ignores CURL_CA_BUNDLE); this is the one GDAL setting every GDAL contender gets.
    "GDAL_CURL_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
}


class RequestLog(Protocol):
    def mark(self) -> int: ...
    def requests(self, since: int | None = None) -> list[dict[str, Any]]: ...
    def cpu_seconds(self) -> float: ...


@dataclass(frozen=True)
class Contender:
    """A contender's name and the Python that runs it (its own venv for the reference)."""

    name: str
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)


def child_env(extra: dict[str, str], home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _DROP and not k.startswith(("GDAL_", "CPL_", "VSI_"))
    }
    env.update(_ISOLATION)
    env["RASTERET_HOME"] = str(home)
    env["HOME"] = str(home)  # the reference keeps its registry and workspace under ~
    env.update(extra)
    return env


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_child(
    contender: Contender,
    workload: str,
    plan: Path,
    out_dir: Path,
    *,
    tag: str,
    log: RequestLog | None,
    timeout: float,
    wrap: list[str] | None = None,
) -> dict[str, Any]:
    """One fresh process; returns the child's result plus requests/bytes and the wall time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = out_dir / f"{contender.name}-{workload}-{tag}.json"
    result_path.unlink(missing_ok=True)
    home = REPO / ".bench" / "home" / contender.name
    home.mkdir(parents=True, exist_ok=True)
    argv = [*(wrap or []), contender.python, "-m", "benchmarks.child", contender.name, workload, str(plan),
            str(result_path), str(out_dir / f"scratch-{contender.name}")]  # fmt: skip
    mark = log.mark() if log else 0
    cpu0 = log.cpu_seconds() if log else 0.0
    stderr_path = out_dir / f"{contender.name}-{workload}-{tag}.stderr"
    t0 = time.perf_counter()
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=child_env(contender.env, home),
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return {"error": f"timed out after {timeout:.0f} s (killed)"}
        except BaseException:  # Ctrl-C: the child has its own session and would live on
            _kill(proc)
            raise
    wall = time.perf_counter() - t0
    if not result_path.exists():
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-5:]
        return {"error": f"exited with status {proc.returncode}: " + " | ".join(tail)}
    result = json.loads(result_path.read_text())
    result["process_s"] = wall
    if log is not None and "seconds" in result:
        entries = log.requests(since=mark)
        result["requests"] = len(entries)
        result["bytes"] = sum(int(e.get("bytes") or 0) for e in entries)
        result["connections"] = len({e.get("connection") for e in entries})
        result["server_cpu_s"] = log.cpu_seconds() - cpu0
    return result
