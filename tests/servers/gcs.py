"""GCS emulator (PyPI ``gcp-storage-emulator``) on 127.0.0.1, in memory, in its own process.

The emulator omits two things obstore's GCS client needs on the XML API: ``ETag`` and
``Last-Modified`` on object GETs, and HEAD requests. Run as ``python -m tests.servers.gcs``, this
module starts the emulator with a thin patch adding both (values from the object's own
metadata); everything else is the emulator as shipped. It has no authentication: tests that need
a refusal put the fault proxy in front of it.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.servers._proc import (
    REPO_ROOT,
    ManagedProcess,
    ServerStartError,
    free_port,
    http_ok,
    make_workdir,
    port_collision,
    remove_workdir,
)


class GcsServer:
    """The patched GCS emulator on 127.0.0.1 (``url`` = http://127.0.0.1:PORT), stopped on exit."""

    def __init__(self) -> None:
        self.port = 0
        self.workdir: Path | None = None
        self._proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GcsServer:
        self.workdir = make_workdir("gcs")
        for attempt in range(3):
            self.port = free_port()
            self._proc = ManagedProcess(
                "gcs-emulator",
                [sys.executable, "-m", "tests.servers.gcs", "--port", str(self.port)],
                log_path=self.workdir / "gcs.log",
                cwd=REPO_ROOT,
            )
            self._proc.start()
            try:
                self._proc.wait_ready(lambda: http_ok(f"{self.url}/"), timeout=30, what="gcs")
                return self
            except ServerStartError as e:
                if attempt == 2 or not port_collision(e):
                    self.stop()
                    raise
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        if self.workdir is not None:
            remove_workdir(self.workdir)
            self.workdir = None

    def __enter__(self) -> GcsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` through the JSON API."""
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=test",
            data=f'{{"name": "{name}"}}'.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            r.read()

    def upload(self, bucket: str, key: str, data: bytes | Path) -> None:
        """Put an object at ``gs://bucket/key`` (XML API upload)."""
        body = data if isinstance(data, bytes) else Path(data).read_bytes()
        request = urllib.request.Request(
            f"{self.url}/{bucket}/{quote(key)}", data=body, method="PUT"
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            r.read()


# --- the patched emulator (runs in the child process) ----------------------------------------


class _HeadersOnly:
    """Wraps a handler's wfile: lets the header block through, drops the body (for HEAD)."""

    def __init__(self, wfile: Any) -> None:
        self._wfile = wfile
        self._writes = 0

    def write(self, data: bytes) -> int:
        self._writes += 1
        if self._writes == 1:
            return self._wfile.write(data)
        return len(data)

    def flush(self) -> None:
        self._wfile.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wfile, name)


def _patch_emulator() -> None:
    from gcp_storage_emulator import server as srv
    from gcp_storage_emulator.exceptions import NotFound
    from gcp_storage_emulator.handlers import objects

    original = objects.download

    def download(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
        original(request, response, storage, *args, **kwargs)
        try:
            obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
        except NotFound:
            return
        updated = datetime.fromisoformat(obj["updated"].replace("Z", "+00:00"))
        response["ETag"] = f'"{obj.get("etag") or obj.get("md5Hash")}"'
        response["Last-Modified"] = format_datetime(updated, usegmt=True)
        response["Accept-Ranges"] = "bytes"

    srv.HANDLERS = tuple(
        (regex, {m: (download if h is original else h) for m, h in handlers.items()})
        for regex, handlers in srv.HANDLERS
    )

    def do_head(self: Any) -> None:
        self.wfile = _HeadersOnly(self.wfile)
        srv.Router(self).handle(srv.GET)

    srv.RequestHandler.do_HEAD = do_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _patch_emulator()
    from gcp_storage_emulator.server import create_server

    create_server("127.0.0.1", args.port, in_memory=True).run()


if __name__ == "__main__":
    main()
