"""Wrong-region detection for S3: recognise the answer, find the bucket's real region.

S3 answers a request sent to the wrong region with 301 (no Location; obstore reports "Received
redirect without LOCATION") or 400 AuthorizationHeaderMalformed naming the expected region. The
region is read from the error body when present, else from ``x-amz-bucket-region`` on an
unauthenticated HEAD of the bucket.
"""

from __future__ import annotations

import re

from rasteret.io.fetch import head_headers

AWS_S3_ENDPOINT = "https://s3.amazonaws.com"

_REDIRECT_MARKERS = (
    "redirect without location",
    "incorrectly configured region",
    "permanentredirect",
    "authorizationheadermalformed",
    "illegallocationconstraintexception",
    "x-amz-bucket-region",
)
_REGION_IN_BODY = (
    re.compile(r"<Region>([a-z0-9-]+)</Region>"),
    re.compile(r"expecting '([a-z0-9-]+)'"),
    re.compile(r"x-amz-bucket-region:\s*([a-z0-9-]+)", re.I),
    re.compile(r"\.s3[.-]([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com"),
)


def is_wrong_region(message: str) -> bool:
    """Whether an S3 error message says the request went to the wrong region."""
    text = message.lower()
    return any(marker in text for marker in _REDIRECT_MARKERS)


def region_from_message(message: str) -> str | None:
    """The region an S3 error body names, if any."""
    for pattern in _REGION_IN_BODY:
        if m := pattern.search(message):
            return m.group(1)
    return None


def discover_bucket_region(bucket: str, endpoint: str | None = None) -> str | None:
    """Ask S3 where ``bucket`` lives (``x-amz-bucket-region`` of a HEAD on the bucket)."""
    base = (endpoint or AWS_S3_ENDPOINT).rstrip("/")
    region = head_headers(f"{base}/{bucket}").get("x-amz-bucket-region")
    return region.strip() if region else None
