"""DatasetRegistry: the in-memory catalog of dataset descriptors for this process.

Built-in datasets are registered first, then the user's local registry file, so a local entry
may shadow any built-in. Registering also records the dataset's band map in BandRegistry and its
cloud config in CloudConfig under the dataset id.
"""

from __future__ import annotations

import difflib
import threading
import warnings
from typing import ClassVar

from rasteret.catalog.bands import BandRegistry
from rasteret.catalog.builtin import builtin_aliases, builtin_descriptors
from rasteret.catalog.descriptor import DatasetDescriptor
from rasteret.errors import DatasetNotFoundError, DescriptorError, RegistryError
from rasteret.io.config import CloudConfig


class DatasetRegistry:
    """Class-level registry: ``list``, ``search``, ``get``, ``register``, ``unregister``."""

    _descriptors: ClassVar[dict[str, DatasetDescriptor]] = {}
    _builtins: ClassVar[dict[str, DatasetDescriptor]] = {}
    _lock: ClassVar[threading.RLock] = threading.RLock()

    @classmethod
    def register(cls, descriptor: DatasetDescriptor) -> None:
        """Add a descriptor, replacing any with the same id (warns when it shadows a built-in)."""
        if not isinstance(descriptor, DatasetDescriptor):
            raise DescriptorError(
                f"register() expects a DatasetDescriptor, got {type(descriptor).__name__}; "
                "build one with DatasetDescriptor(**data)"
            )
        builtin = cls._builtins.get(descriptor.id)
        if builtin is not None and builtin != descriptor:
            warnings.warn(
                f"dataset {descriptor.id!r} replaces the built-in descriptor of that id",
                UserWarning,
                stacklevel=2,
            )
        with cls._lock:
            cls._descriptors[descriptor.id] = descriptor
            _record_side_tables(descriptor.id, descriptor)

    @classmethod
    def unregister(cls, dataset_id: str) -> DatasetDescriptor | None:
        """Remove a descriptor from this process; returns it, or None when it was not registered.

        Only the in-memory registry changes: the local registry file is handled by
        :func:`rasteret.catalog.unregister_local_descriptor`.
        """
        with cls._lock:
            removed = cls._descriptors.pop(dataset_id, None)
            if removed is not None:
                _record_side_tables(dataset_id, None)
        return removed

    @classmethod
    def get(cls, dataset_id: str) -> DatasetDescriptor | None:
        """The descriptor registered under ``dataset_id``, or None."""
        return cls._descriptors.get(dataset_id)

    @classmethod
    def require(cls, dataset_id: str) -> DatasetDescriptor:
        """The descriptor of ``dataset_id``; DatasetNotFoundError naming the closest ids if absent."""
        found = cls._descriptors.get(dataset_id)
        if found is None:
            raise DatasetNotFoundError(unknown_dataset_message(dataset_id, cls.ids()))
        return found

    @classmethod
    def list(cls) -> list[DatasetDescriptor]:
        """Every registered descriptor, built-ins first, in registration order."""
        with cls._lock:
            return [*cls._descriptors.values()]

    @classmethod
    def ids(cls) -> list[str]:
        """Every registered dataset id."""
        with cls._lock:
            return [*cls._descriptors]

    @classmethod
    def search(cls, keyword: str) -> list[DatasetDescriptor]:
        """Descriptors whose id, name, description or band codes contain ``keyword`` (any case)."""
        if not isinstance(keyword, str):
            raise RegistryError(f"search keyword must be a string, got {keyword!r}")
        needle = keyword.casefold()
        return [d for d in cls.list() if needle in _search_text(d)]

    @classmethod
    def is_builtin(cls, dataset_id: str) -> bool:
        """Whether ``dataset_id`` ships with rasteret (even if shadowed or unregistered now)."""
        return dataset_id in cls._builtins

    @classmethod
    def builtin(cls, dataset_id: str) -> DatasetDescriptor | None:
        """The shipped descriptor of a built-in id, or None."""
        return cls._builtins.get(dataset_id)

    @classmethod
    def restore_builtin(cls, dataset_id: str) -> DatasetDescriptor | None:
        """Put the shipped descriptor of a built-in id back; None if the id is not built in."""
        builtin = cls._builtins.get(dataset_id)
        if builtin is not None:
            with cls._lock:
                cls._descriptors[dataset_id] = builtin
                _record_side_tables(dataset_id, builtin)
        return builtin

    @classmethod
    def _install_builtins(cls) -> None:
        """Register the shipped catalog and its alias band maps (called once at import)."""
        with cls._lock:
            for descriptor in builtin_descriptors():
                cls._builtins[descriptor.id] = descriptor
                cls._descriptors[descriptor.id] = descriptor
                _record_side_tables(descriptor.id, descriptor)
            for alias, target in builtin_aliases().items():
                _record_side_tables(alias, cls._builtins[target])


def register(descriptor: DatasetDescriptor) -> None:
    """Register a dataset descriptor for this process (same as ``DatasetRegistry.register``)."""
    DatasetRegistry.register(descriptor)


def suggest_ids(dataset_id: str, known: list[str], limit: int = 3) -> list[str]:
    """Known ids closest to ``dataset_id``: those containing it first, then similar spellings."""
    needle = str(dataset_id).casefold()
    containing = [k for k in known if needle and needle in k.casefold()]
    similar = difflib.get_close_matches(str(dataset_id), known, n=limit, cutoff=0.5)
    return [*dict.fromkeys([*containing, *similar])][:limit]


def unknown_dataset_message(dataset_id: str, known: list[str]) -> str:
    """'unknown dataset' message naming the closest registered ids."""
    close = suggest_ids(dataset_id, known)
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown dataset {dataset_id!r}; {hint or 'no similar id is registered.'} "
        "List the registered ids with DatasetRegistry.list() or `rasteret datasets list`"
    )


def _search_text(descriptor: DatasetDescriptor) -> str:
    parts = [descriptor.id, descriptor.name, descriptor.description]
    parts += [*(descriptor.band_map or {}), *(descriptor.band_index_map or {})]
    return "\n".join(parts).casefold()


def _record_side_tables(data_source: str, descriptor: DatasetDescriptor | None) -> None:
    """Mirror a data source's band map and cloud config into BandRegistry and CloudConfig."""
    if descriptor is not None and descriptor.band_map:
        BandRegistry.register(data_source, descriptor.band_map)
    else:
        BandRegistry.unregister(data_source)
    if descriptor is not None and descriptor.cloud_config:
        CloudConfig.register(data_source, descriptor.cloud_config)
    else:
        # Drop any stale entry so a re-registered dataset without a cloud config does not
        # inherit the old one.
        CloudConfig.unregister(data_source)
