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

from tests.servers._proc import REPO_ROOT, LoopbackServer, http_ok


class GcsServer(LoopbackServer):
    """The patched GCS emulator on 127.0.0.1 (``url`` = http://127.0.0.1:PORT), stopped on exit."""

    kind = "gcs"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, workdir: Path) -> None:
        def launch(port: int) -> None:
            self.port = port
            self._serve(
                "gcs-emulator",
                [sys.executable, "-m", "tests.servers.gcs", "--port", port],
                ready=lambda: http_ok(f"{self.url}/"),
                log_path=workdir / "gcs.log",
                cwd=REPO_ROOT,
            )

        self._on_free_port(launch)

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
