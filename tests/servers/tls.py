"""A throwaway local certificate authority for HTTPS test servers on 127.0.0.1.

Tests never touch the system trust store: clients are given ``ca_file`` instead (obstore
``client_options={"root_certificate": pem}``, GDAL ``GDAL_CURL_CA_BUNDLE`` (the
rasterio wheel ignores ``CURL_CA_BUNDLE``), Python ``ssl``).
:func:`install_ca_system_wide` exists for benchmark setup only (the reference implementation
can reach HTTPS servers only through the system trust store); tests must never call it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.servers._proc import run_checked

SYSTEM_CA_DIR = Path("/usr/local/share/ca-certificates")


@dataclass(frozen=True)
class LocalCA:
    """PEM files of a CA and of one server certificate for 127.0.0.1 / localhost signed by it."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path, *, days: int = 7) -> LocalCA:
        """Generate a new CA and server certificate (openssl, ~0.1 s) in ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        ca_key, ca_crt = d / "ca.key", d / "ca.crt"
        key, csr, crt, ext = d / "server.key", d / "server.csr", d / "server.crt", d / "ext.cnf"
        ext.write_text(
            "basicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        )
        run_checked(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                "-keyout", ca_key, "-out", ca_crt, "-days", str(days),
                "-subj", "/CN=rasteret-test-local-ca",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ],
            what="openssl (CA)",
        )  # fmt: skip
        run_checked(
            [
                "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
                "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1",
            ],
            what="openssl (server key)",
        )  # fmt: skip
        run_checked(
            [
                "openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                "-CAcreateserial", "-out", crt, "-days", str(days), "-sha256", "-extfile", ext,
            ],
            what="openssl (sign)",
        )  # fmt: skip
        return cls(ca_file=ca_crt, cert_file=crt, key_file=key)

    @property
    def ca_pem(self) -> str:
        """The CA certificate as PEM text (obstore ``root_certificate``)."""
        return self.ca_file.read_text()


def install_ca_system_wide(ca_file: Path, name: str = "rasteret-bench-local-ca") -> Path:
    """Add ``ca_file`` to the Debian system trust store (root only). Benchmarks only, never tests."""
    target = SYSTEM_CA_DIR / f"{name}.crt"
    shutil.copyfile(ca_file, target)
    subprocess.run(["update-ca-certificates"], check=True, capture_output=True)
    return target


def uninstall_ca_system_wide(name: str = "rasteret-bench-local-ca") -> None:
    """Remove a CA added by :func:`install_ca_system_wide` and refresh the trust store."""
    (SYSTEM_CA_DIR / f"{name}.crt").unlink(missing_ok=True)
    subprocess.run(["update-ca-certificates", "--fresh"], check=True, capture_output=True)
