"""Package version, read from the installed metadata."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """Return the installed rasteret version."""
    try:
        return metadata.version("rasteret")
    except metadata.PackageNotFoundError:
        return "0.0.0+local"


__version__ = version()
