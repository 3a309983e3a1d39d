"""The dataset registry: descriptors, the built-in catalog and the persistent local registry.

Importing this package registers the built-in datasets, then the valid entries of the local
registry file (``~/.rasteret/datasets.local.json`` or the ``RASTERET_HOME`` /
``RASTERET_LOCAL_DATASETS_PATH`` override), so a local entry may shadow a built-in.
"""

from rasteret.catalog.bands import BandRegistry
from rasteret.catalog.descriptor import DatasetDescriptor
from rasteret.catalog.local import (
    export_local_descriptor,
    import_descriptor,
    install_local_descriptors,
    load_local_descriptors,
    local_registry_path,
    save_local_descriptor,
    unregister_local_descriptor,
)
from rasteret.catalog.registry import DatasetRegistry, register

__all__ = [
    "BandRegistry",
    "DatasetDescriptor",
    "DatasetRegistry",
    "export_local_descriptor",
    "import_descriptor",
    "load_local_descriptors",
    "local_registry_path",
    "register",
    "save_local_descriptor",
    "unregister_local_descriptor",
]

DatasetRegistry._install_builtins()
install_local_descriptors()
