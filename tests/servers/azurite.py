"""Azurite (Azure Blob emulator, npm package ``azurite``) on 127.0.0.1, in memory, no telemetry.

Azurite checks shared-key and SAS signatures and SAS expiry like Azure does, so tests can sign
with tokens that expire mid-read. Install with ``bash tools/cloud-emulators.sh`` (into
``tools/node``). The emulator's single account is ``devstoreaccount1`` with its well-known key;
blobs live at ``{account_url}/{container}/{key}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

from tests.servers._proc import REPO_ROOT, LoopbackServer, ServerStartError, port_open

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
SAS_VERSION = "2019-12-12"
LOCAL_BIN = REPO_ROOT / "tools" / "node" / "node_modules" / ".bin" / "azurite-blob"


def azurite_binary() -> str:
    """Path of ``azurite-blob``, or a clear error saying how to install it."""
    if LOCAL_BIN.exists():
        return str(LOCAL_BIN)
    found = shutil.which("azurite-blob")
    if not found:
        raise ServerStartError("azurite is not installed: run `bash tools/cloud-emulators.sh`")
    return found


def _sign(string_to_sign: str, key: str = ACCOUNT_KEY) -> str:
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_sas(
    container: str,
    expires_at: datetime,
    *,
    permissions: str = "rl",
    key: str = ACCOUNT_KEY,
) -> str:
    """A service SAS token (query string, no '?') for one container of the emulator account."""
    expiry = _iso(expires_at)
    fields = [permissions, "", expiry, f"/blob/{ACCOUNT}/{container}", "", "", "", SAS_VERSION]
    fields += ["c", "", "", "", "", "", ""]
    signature = _sign("\n".join(fields), key)
    return urlencode(
        {"sv": SAS_VERSION, "sr": "c", "sp": permissions, "se": expiry, "sig": signature}
    )


def account_sas(expires_at: datetime, *, permissions: str = "rwdlac") -> str:
    """An account SAS token allowing container and blob management (for test setup)."""
    expiry = _iso(expires_at)
    fields = [ACCOUNT, permissions, "b", "sco", "", expiry, "", "", SAS_VERSION, ""]
    signature = _sign("\n".join(fields))
    return urlencode(
        {
            "sv": SAS_VERSION,
            "ss": "b",
            "srt": "sco",
            "sp": permissions,
            "se": expiry,
            "sig": signature,
        }
    )


class AzuriteServer(LoopbackServer):
    """azurite-blob on 127.0.0.1 (``account_url`` = http://127.0.0.1:PORT/devstoreaccount1)."""

    kind = "azurite"

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def blob_url(self, container: str, key: str) -> str:
        """The production-style URL of a blob (what a STAC item would hold)."""
        return f"https://{ACCOUNT}.blob.core.windows.net/{container}/{key}"

    def _start(self, workdir: Path) -> None:
        binary = azurite_binary()

        def launch(port: int) -> None:
            self.port = port
            argv = [binary, "--blobHost", "127.0.0.1", "--blobPort", port, "--inMemoryPersistence",
                    "--disableTelemetry", "--skipApiVersionCheck", "--loose"]  # fmt: skip
            self._serve(
                "azurite",
                argv,
                ready=lambda: port_open(port),
                log_path=workdir / "azurite.log",
                cwd=workdir,
            )

        self._on_free_port(launch)

    def _admin_query(self) -> str:
        return account_sas(datetime.now(UTC) + timedelta(minutes=30))

    def create_container(self, name: str) -> None:
        """Create a private container (names: 3-63 lowercase letters, digits, dashes)."""
        url = f"{self.account_url}/{name}?restype=container&{self._admin_query()}"
        with urllib.request.urlopen(urllib.request.Request(url, method="PUT"), timeout=10) as r:
            r.read()

    def upload(self, container: str, key: str, data: bytes | Path) -> None:
        """Put a block blob at ``container/key``."""
        body = data if isinstance(data, bytes) else Path(data).read_bytes()
        url = f"{self.account_url}/{container}/{quote(key)}?{self._admin_query()}"
        request = urllib.request.Request(
            url, data=body, method="PUT", headers={"x-ms-blob-type": "BlockBlob"}
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            r.read()
