"""Bytes from anywhere: URL routing to obstore stores, range reads, coalescing, one I/O loop."""

from rasteret.io.backend import Backend, ObjectInfo, create_backend, default_backend
from rasteret.io.coalesce import MergedRange, coalesce_ranges
from rasteret.io.config import CloudConfig, rewrite_url
from rasteret.io.loop import run_sync
from rasteret.io.urls import Location, parse_location, redact_url

__all__ = [
    "Backend",
    "CloudConfig",
    "Location",
    "MergedRange",
    "ObjectInfo",
    "coalesce_ranges",
    "create_backend",
    "default_backend",
    "parse_location",
    "redact_url",
    "rewrite_url",
    "run_sync",
]
