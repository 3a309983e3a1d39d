"""Small blocking HTTP calls for credential and token endpoints (stdlib only, bounded by timeouts).

These run inside credential providers, which obstore calls from its own threads, and during
region discovery; they are rare (once per token lifetime), so a blocking client is enough.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from rasteret.errors import AccessDeniedError, StorageError
from rasteret.io.secrets import scrub
from rasteret.io.urls import redact_url

USER_AGENT = "rasteret"


def fetch_json(
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    timeout: float = 15.0,
    hint: str = "",
) -> dict[str, Any]:
    """GET ``url`` and parse a JSON object; errors name ``what`` and the redacted URL.

    headers: sent only to ``url`` itself, never to a host it redirects to.
    opener: a urllib opener (e.g. with basic auth and cookies) instead of the default one.
    hint: what to do when access is refused (appended to 401/403 errors).
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    for name, value in (headers or {}).items():
        request.add_unredirected_header(name, value)
    where = redact_url(url)
    try:
        with (opener or _default_opener()).open(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise AccessDeniedError(
                f"{what}: {where} refused the request (HTTP {exc.code}). {hint}".strip()
            ) from None
        raise StorageError(f"{what}: {where} answered HTTP {exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StorageError(f"{what}: could not reach {where}: {scrub(str(reason))}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise StorageError(f"{what}: {where} did not answer with JSON") from None
    if not isinstance(data, dict):
        raise StorageError(f"{what}: {where} answered JSON that is not an object")
    return data


def head_headers(url: str, *, timeout: float = 10.0) -> dict[str, str]:
    """Response headers of an unauthenticated HEAD on ``url``, whatever its status."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT})
    try:
        with _no_redirect_opener().open(request, timeout=timeout) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return {k.lower(): v for k, v in exc.headers.items()}
    except (OSError, ValueError):
        return {}


def _default_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _no_redirect_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect())
