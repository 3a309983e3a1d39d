"""Turn obstore / OS errors into rasteret errors that say what happened and what to do.

The message names the (redacted) URL, whether the request was signed, which credential provider
was used and, for a refusal, what to configure. Text taken from a dependency passes through
:func:`rasteret.io.secrets.scrub`, so no key, token or signed query string can leak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from obstore import exceptions as obx

from rasteret.errors import (
    AccessDeniedError,
    ObjectChangedError,
    ObjectNotFoundError,
    StorageError,
)
from rasteret.io.secrets import scrub
from rasteret.io.urls import redact_url

_CODE = re.compile(r"<Code>([A-Za-z.]+)</Code>")
_EXPIRED_CODES = ("ExpiredToken", "TokenRefreshRequired", "InvalidToken", "RequestExpired")
_STATUS = re.compile(r"status code: (\d{3})")


@dataclass(frozen=True)
class AccessContext:
    """How a store was reached, for error messages.

    kind: "s3", "gcs", "azure", "http" or "file".
    signed: whether requests were signed (False: anonymous).
    requester_pays: whether S3 requests sent the request-payer header.
    provider: secret-free name of the credential provider, if one was used.
    credentials: where signing credentials came from when there is no provider.
    dataset: the dataset id this backend serves, if known.
    """

    kind: str
    signed: bool = False
    requester_pays: bool = False
    provider: str | None = None
    credentials: str | None = None
    dataset: str | None = None


def error_code(text: str) -> str | None:
    """The ``<Code>`` of an S3/Azure XML error body quoted in ``text``."""
    m = _CODE.search(text)
    return m.group(1) if m else None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status quoted in an obstore error, if any."""
    m = _STATUS.search(str(exc))
    return int(m.group(1)) if m else None


def is_auth_failure(exc: BaseException) -> bool:
    """Whether an obstore error is a refusal (401/403, or a credential provider failing)."""
    if isinstance(exc, obx.PermissionDeniedError | obx.UnauthenticatedError | PermissionError):
        return True
    return http_status(exc) in (401, 403)


def map_store_error(
    exc: BaseException, url: str, context: AccessContext | None = None, *, refreshed: bool = False
) -> StorageError:
    """Translate an obstore / OS error into rasteret's hierarchy, naming the (redacted) URL."""
    if isinstance(exc, StorageError):
        return exc
    where = redact_url(url)
    ctx = context or AccessContext(kind="unknown")
    if isinstance(exc, obx.NotFoundError | FileNotFoundError) or http_status(exc) == 404:
        hint = ""
        if ctx.kind == "azure" and not ctx.signed:
            hint = (
                " (the request was anonymous; a private Azure container may answer 404: "
                "configure a SAS token provider or account key if the blob exists)"
            )
        return ObjectNotFoundError(f"{where} does not exist (check the path or URL){hint}")
    if isinstance(exc, obx.PreconditionError) or http_status(exc) == 412:
        return ObjectChangedError(
            f"{where} changed since the collection was built (ETag differs); rebuild the "
            "collection with force=True"
        )
    if http_status(exc) == 416 or "Requested range was invalid" in str(exc):
        return ObjectChangedError(
            f"a byte range is beyond the end of {where}: the file is shorter than the "
            "collection's index says; rebuild the collection with force=True"
        )
    if is_auth_failure(exc):
        return AccessDeniedError(denied_message(where, ctx, str(exc), refreshed=refreshed))
    text = scrub(_first_line(str(exc)))
    return StorageError(f"reading {where} failed: {type(exc).__name__}: {text}")


def denied_message(where: str, ctx: AccessContext, text: str, *, refreshed: bool = False) -> str:
    """What a refusal means for this kind of store and what to configure."""
    code = error_code(text)
    status = _STATUS.search(text)
    what = f"HTTP {status.group(1)}" if status else "refused"
    if code:
        what += f" {code}"
    head = f"access to {where} was denied ({what})"
    if ctx.dataset:
        head += f" for dataset {ctx.dataset!r}"
    if ctx.provider and (refreshed or code in _EXPIRED_CODES):
        return (
            f"{head}: the credentials from {ctx.provider} were rejected"
            f"{' even after fetching new ones' if refreshed else ''} (expired, revoked or "
            "lacking permission); check that provider's login and that its credentials may "
            "read this object"
        )
    if ctx.kind == "s3":
        return f"{head}: {_s3_advice(ctx)}"
    if ctx.kind == "azure":
        if not ctx.signed:
            return (
                f"{head}: the request was anonymous and the container is not public; sign "
                "requests with a SAS token provider (backend=rasteret.create_backend("
                "credential_provider=rasteret.io.SasTokenProvider(endpoint)) or "
                "PlanetaryComputerTokenProvider()) or set azure_config account_key / sas_key"
            )
        return (
            f"{head}: the Azure credentials ({ctx.provider or ctx.credentials}) were refused; "
            "check that the SAS token grants read access (sp=r) to this container and has "
            "not expired"
        )
    if ctx.kind == "gcs":
        if not ctx.signed:
            return (
                f"{head}: the request was anonymous; for a private bucket set "
                "GOOGLE_APPLICATION_CREDENTIALS, gcs_config={'service_account_key': ...} or "
                "pass a GCS credential provider to create_backend"
            )
        return f"{head}: the GCS credentials ({ctx.provider or ctx.credentials}) were refused"
    return (
        f"{head}: the server requires authorisation; if this is a signed or private URL, "
        "build the collection from unsigned URLs and pass a backend with credentials"
    )


def _s3_advice(ctx: AccessContext) -> str:
    source = ctx.provider or ctx.credentials or "the default credential chain"
    if ctx.requester_pays:
        return (
            "the bucket is configured as requester-pays, so requests were signed and sent "
            f"x-amz-request-payer; the credentials ({source}) are invalid or not allowed to "
            "read this object (requester-pays needs an AWS account that accepts the charges)"
        )
    if not ctx.signed:
        return (
            "the request was anonymous. If the bucket is private, configure credentials "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or backend=rasteret.create_backend("
            "credential_provider=...)); if it is a requester-pays bucket (e.g. usgs-landsat, "
            "naip-source), set cloud_config={'requester_pays': True} and configure credentials"
        )
    return (
        f"the credentials ({source}) were refused. Check they are valid and may read this "
        "object; if the bucket is requester-pays, set cloud_config={'requester_pays': True} "
        "(the request-payer header is sent only then)"
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
