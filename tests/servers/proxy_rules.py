"""Fault rules of the test proxy: which requests they match and what they do to them.

A rule matches on method, path, query and headers (regular expressions; a header given as None
must be absent), skips its first ``skip`` matches, then applies to the next ``times`` matching
requests (``None``: all of them). Actions:

- ``status``: answer with ``status``, ``response_headers`` and ``body`` without contacting the
  upstream (``body=None`` gives an S3-style XML error, so SDKs see a proper error code);
- ``reset``: reset the TCP connection (RST) once the request head has arrived;
- ``truncate``: forward, but close the connection after ``truncate_after`` response body bytes
  (a body no longer than that passes whole);
- ``delay``: forward after an extra ``delay_ms``.

``delay_ms`` also applies before the other actions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("status", "reset", "truncate", "delay")

S3_ERROR_CODES = {
    301: (
        "PermanentRedirect",
        "The bucket is in another region; use the region in x-amz-bucket-region.",
    ),
    307: ("TemporaryRedirect", "Please re-send this request to the specified temporary endpoint."),
    400: ("BadRequest", "Injected by the test proxy."),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    412: ("PreconditionFailed", "At least one of the preconditions you specified did not hold."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


@dataclass
class Rule:
    """One fault rule (see the module docstring)."""

    action: str
    method: str | None = None
    path: str | None = None
    query: str | None = None
    headers: dict[str, str | None] = field(default_factory=dict)
    times: int | None = None
    skip: int = 0
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    truncate_after: int | None = None
    delay_ms: float = 0.0
    id: int = 0
    seen: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"rule action must be one of {ACTIONS}, got {self.action!r}")
        if self.action == "status" and not (self.status and 100 <= self.status <= 599):
            raise ValueError("a 'status' rule needs status=<100..599>")
        if self.action == "truncate" and (self.truncate_after is None or self.truncate_after < 0):
            raise ValueError("a 'truncate' rule needs truncate_after=<bytes >= 0>")
        if (self.times is not None and self.times < 0) or self.skip < 0:
            raise ValueError("times and skip must be >= 0")
        self.headers = {k.lower(): v for k, v in self.headers.items()}
        for pattern in (self.method, self.path, self.query, *self.headers.values()):
            if pattern is not None:
                re.compile(pattern)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        known = {f for f in cls.__dataclass_fields__ if f not in ("id", "seen", "hits")}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> bool:
        if self.method is not None and not re.fullmatch(self.method, method, re.IGNORECASE):
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        if self.query is not None and not re.search(self.query, query):
            return False
        for name, pattern in self.headers.items():
            value = headers.get(name)
            if pattern is None:
                if value is not None:
                    return False
            elif value is None or not re.search(pattern, value):
                return False
        return True

    def take(self) -> bool:
        """Count one matching request; True when the rule applies to it."""
        if self.exhausted:
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        self.hits += 1
        return True


def error_body(status: int) -> str:
    """An S3-style XML error document for ``status``."""
    code, message = S3_ERROR_CODES.get(status, ("InjectedError", "Injected by the test proxy."))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>rasteret-test-proxy</RequestId></Error>"
    )
