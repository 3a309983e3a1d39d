"""Bytes from anywhere: URL routing to obstore stores, credentials, range reads, one I/O loop."""

from rasteret.io.backend import Backend, ObjectInfo, create_backend, default_backend
from rasteret.io.coalesce import MergedRange, coalesce_ranges
from rasteret.io.config import CloudConfig, rewrite_url
from rasteret.io.credentials import RefreshingCredential, S3CredentialsUrlProvider
from rasteret.io.descriptor import backend_for_descriptor
from rasteret.io.loop import run_sync
from rasteret.io.signing import PlanetaryComputerTokenProvider, SasTokenProvider
from rasteret.io.urls import Location, is_signed_url, parse_location, redact_url, unsign_url

__all__ = [
    "Backend",
    "CloudConfig",
    "Location",
    "MergedRange",
    "ObjectInfo",
    "PlanetaryComputerTokenProvider",
    "RefreshingCredential",
    "S3CredentialsUrlProvider",
    "SasTokenProvider",
    "backend_for_descriptor",
    "coalesce_ranges",
    "create_backend",
    "default_backend",
    "is_signed_url",
    "parse_location",
    "redact_url",
    "rewrite_url",
    "run_sync",
    "unsign_url",
]
