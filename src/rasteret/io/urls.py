"""URL parsing and redaction: one place that knows what a URL points at."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

_S3_VHOST = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.\-]*)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$"
)
_S3_PATH_HOST = re.compile(r"^s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")
_AZURE_HOST = re.compile(r"^(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.core\.windows\.net$")


@dataclass(frozen=True)
class Location:
    """Where an object lives: a store kind, the store's root and the key inside it.

    kind: "file", "s3", "gcs", "azure" or "http".
    root: bucket / container / origin identifying one store ("" for the local filesystem).
    key: path of the object inside that store.
    region: region parsed from an S3 host name, when present.
    account: Azure storage account, when present.
    query: query string of an HTTP(S) URL (signed URLs), kept out of logs.
    """

    kind: str
    root: str
    key: str
    region: str | None = None
    account: str | None = None
    query: str = ""


def parse_location(url: str | os.PathLike[str]) -> Location:
    """Map a path or URL to a :class:`Location`."""
    text = os.fspath(url)
    if "://" not in text:
        return Location("file", "", str(Path(text).expanduser().resolve()).lstrip("/"))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    path = unquote(parts.path).lstrip("/")
    if scheme == "file":
        return Location("file", "", str(Path(unquote(parts.path)).resolve()).lstrip("/"))
    if scheme in ("s3", "s3a"):
        return Location("s3", parts.netloc, path)
    if scheme in ("gs", "gcs"):
        return Location("gcs", parts.netloc, path)
    if scheme in ("az", "azure", "abfs", "abfss"):
        container, _, account_host = parts.netloc.partition("@")
        account = account_host.split(".")[0] if account_host else None
        return Location("azure", container, path, account=account)
    if scheme in ("http", "https"):
        host = (parts.hostname or "").lower()
        if m := _S3_VHOST.match(host):
            return Location("s3", m["bucket"], path, region=m["region"])
        if (m := _S3_PATH_HOST.match(host)) and "/" in path:
            bucket, _, key = path.partition("/")
            return Location("s3", bucket, key, region=m["region"])
        if host == "storage.googleapis.com" and "/" in path:
            bucket, _, key = path.partition("/")
            return Location("gcs", bucket, key)
        if (m := _AZURE_HOST.match(host)) and "/" in path:
            container, _, key = path.partition("/")
            return Location("azure", container, key, account=m["account"], query=parts.query)
        origin = urlunsplit((scheme, parts.netloc, "", "", ""))
        return Location("http", origin, path, query=parts.query)
    raise ValueError(
        f"unsupported URL scheme {scheme!r} in {redact_url(text)}: use a local path, file://, "
        "s3://, gs://, az:// or http(s)://"
    )


def redact_url(url: str | os.PathLike[str]) -> str:
    """Return the URL without its query string or user info (signed tokens, keys)."""
    text = os.fspath(url)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_SIGNATURE_PARAMS = frozenset(
    {
        # Azure SAS
        "sv", "ss", "srt", "sp", "se", "st", "spr", "sig", "sr", "si", "sip", "skoid", "sktid",
        "skt", "ske", "sks", "skv", "sdd", "ses", "rscc", "rscd", "rsce", "rscl", "rsct",
        # AWS SigV4 presigned
        "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
        "x-amz-signedheaders", "x-amz-signature", "x-amz-security-token",
        # GCS signed URLs
        "x-goog-algorithm", "x-goog-credential", "x-goog-date", "x-goog-expires",
        "x-goog-signedheaders", "x-goog-signature",
    }
)  # fmt: skip


def is_signed_url(url: str) -> bool:
    """Whether ``url`` carries a signature (Azure SAS, S3 or GCS presigned query)."""
    query = urlsplit(os.fspath(url)).query
    names = {p.split("=", 1)[0].lower() for p in query.split("&") if p}
    return bool(names & {"sig", "x-amz-signature", "x-goog-signature"})


def unsign_url(url: str) -> str:
    """``url`` without signature parameters, so it can be stored and signed again at read time.

    Other query parameters are kept in their order; a URL without a signature is unchanged.
    """
    text = os.fspath(url)
    if not is_signed_url(text):
        return text
    parts = urlsplit(text)
    kept = [
        p
        for p in parts.query.split("&")
        if p and p.split("=", 1)[0].lower() not in _SIGNATURE_PARAMS
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))
