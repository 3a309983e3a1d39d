"""Keep secrets out of messages: live secret values are remembered and scrubbed from any text.

Credential providers and backends register every key, token and signature they hold; error
messages built from a dependency's text pass through :func:`scrub` before they are raised, so
a secret never reaches an exception, a log line or a repr even when a server echoes it back.
"""

from __future__ import annotations

import re
import threading
from collections import deque

_MAX_KNOWN = 512
_MIN_LEN = 8
_known: deque[str] = deque(maxlen=_MAX_KNOWN)
_lock = threading.Lock()

REDACTED = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Query strings of URLs (signed URLs, SAS tokens).
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s?\"'<>]+)\?[^\s\"'<>]*", re.I), r"\1?" + REDACTED),
    # Bare signature / token parameters outside a URL.
    (
        re.compile(
            r"\b(sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|"
            r"x-goog-signature|x-goog-credential|token|sas_token|access_token)=[^\s&\"'<>]+",
            re.I,
        ),
        r"\1=" + REDACTED,
    ),
    # Authorization headers and bearer tokens.
    (re.compile(r"\b(authorization\s*[:=]\s*)[^\r\n\"']+", re.I), r"\1" + REDACTED),
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}", re.I), r"\1 " + REDACTED),
    # AWS access key ids, and XML elements that echo credentials.
    (re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b"), REDACTED),
    (
        re.compile(
            r"<(AWSAccessKeyId|SignatureProvided|StringToSign|StringToSignBytes|"
            r"CanonicalRequest|CanonicalRequestBytes|HostId)>[^<]*</\1>"
        ),
        r"<\1>" + REDACTED + r"</\1>",
    ),
)


def register_secret(*values: object) -> None:
    """Remember secret values so :func:`scrub` removes them from any text later."""
    with _lock:
        for value in values:
            if isinstance(value, str) and len(value) >= _MIN_LEN and value not in _known:
                _known.append(value)


def scrub(text: str) -> str:
    """Return ``text`` with known secrets, signed query strings and key-like strings redacted."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask(value: str | None) -> str:
    """A printable stand-in for a secret in reprs: whether it is set, never what it is."""
    return "<unset>" if not value else REDACTED
