"""rasteret: index-first reads of Cloud-Optimized GeoTIFFs.

Public names are loaded lazily so ``import rasteret`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

logging.getLogger("rasteret").addHandler(logging.NullHandler())

_EXPORTS: dict[str, str] = {
    "BandRegistry": "rasteret.catalog.bands",
    "CloudConfig": "rasteret.io.config",
    "Collection": "rasteret.collection",
    "DatasetDescriptor": "rasteret.catalog.descriptor",
    "DatasetRegistry": "rasteret.catalog.registry",
    "__version__": "rasteret._version",
    "as_collection": "rasteret.collection",
    "build": "rasteret.api",
    "build_from_stac": "rasteret.api",
    "build_from_table": "rasteret.api",
    "create_backend": "rasteret.io.backend",
    "get_options": "rasteret._options",
    "load": "rasteret.collection",
    "options": "rasteret._options",
    "register": "rasteret.catalog.registry",
    "register_local": "rasteret.api",
    "set_options": "rasteret._options",
    "version": "rasteret._version",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rasteret' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
