"""The persistent local registry: descriptors saved in ``~/.rasteret/datasets.local.json``.

Location: ``$RASTERET_LOCAL_DATASETS_PATH`` if set, else ``$RASTERET_HOME/datasets.local.json``,
else ``~/.rasteret/datasets.local.json``; resolved at each call. The file is a JSON list of
descriptor objects sorted by id. Every change happens under a cross-process file lock and is
written atomically, so concurrent writers never lose entries and readers never see half a file.
A corrupt or hand-edited file never breaks ``import rasteret``: bad entries are skipped with a
warning naming the file and the entry, and are kept as they are when the file is rewritten.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rasteret.catalog import jsonfile
from rasteret.catalog.descriptor import DatasetDescriptor
from rasteret.catalog.registry import DatasetRegistry, suggest_ids
from rasteret.errors import DatasetNotFoundError, DescriptorError, RegistryError

ENV_PATH = "RASTERET_LOCAL_DATASETS_PATH"
ENV_HOME = "RASTERET_HOME"
FILE_NAME = "datasets.local.json"
LOCK_TIMEOUT_S = 60.0


def local_registry_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The local registry file: ``path``, else the environment, else ``~/.rasteret``."""
    if path is not None:
        return Path(path).expanduser()
    explicit = os.environ.get(ENV_PATH)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get(ENV_HOME)
    base = Path(home).expanduser() if home else Path.home() / ".rasteret"
    return base / FILE_NAME


def load_local_descriptors(path: str | os.PathLike[str] | None = None) -> list[DatasetDescriptor]:
    """Valid descriptors of the local registry file (missing file: none; bad entries: warned)."""
    registry_path = local_registry_path(path)
    try:
        raw = registry_path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        _warn(f"local dataset registry {registry_path} cannot be read ({exc.strerror}); ignored")
        return []
    entries, problem = _entries(raw)
    if problem:
        _warn(
            f"local dataset registry {registry_path} {problem}; ignoring it. Fix the file, or "
            "register a dataset to start a new one (the old file is kept as a .corrupt copy)"
        )
    found: dict[str, DatasetDescriptor] = {}
    for number, entry in enumerate(entries, start=1):
        descriptor = _descriptor_or_warn(entry, number, registry_path)
        if descriptor is None:
            continue
        if descriptor.id in found:
            _warn(f"{registry_path}: entry {number} repeats id {descriptor.id!r}; the last wins")
        found[descriptor.id] = descriptor
    return [*found.values()]


def save_local_descriptor(
    descriptor: DatasetDescriptor, path: str | os.PathLike[str] | None = None
) -> Path:
    """Persist ``descriptor`` in the local registry file (insert, or replace the same id).

    Only the file changes; register the descriptor too (``rasteret.register``) to use it in
    this process. Returns the registry file path.
    """
    if not isinstance(descriptor, DatasetDescriptor):
        raise DescriptorError(
            f"save_local_descriptor() expects a DatasetDescriptor, got {type(descriptor).__name__}"
        )
    registry_path = local_registry_path(path)
    with _locked_entries(registry_path) as entries:
        entries[:] = [e for e in entries if _entry_id(e) != descriptor.id]
        entries.append(jsonfile.sorted_top_level(descriptor.to_dict()))
    return registry_path


def unregister_local_descriptor(
    dataset_id: str, path: str | os.PathLike[str] | None = None
) -> DatasetDescriptor | None:
    """Remove a dataset from the local registry file and from this process.

    A built-in shadowed by the removed entry comes back. Raises RegistryError for a built-in
    that has no local entry (built-ins cannot be removed) and DatasetNotFoundError when the id
    is not in the file. Returns the removed descriptor (None if its entry was invalid).
    """
    registry_path = local_registry_path(path)
    removed: list[Any] = []
    with _locked_entries(registry_path) as entries:
        removed = [e for e in entries if _entry_id(e) == dataset_id]
        entries[:] = [e for e in entries if _entry_id(e) != dataset_id]
        known = [i for i in map(_entry_id, entries) if i]
    if not removed:
        if DatasetRegistry.is_builtin(dataset_id):
            raise RegistryError(
                f"{dataset_id!r} is a built-in dataset and cannot be unregistered; it ships with "
                "rasteret. To change it, register a descriptor with the same id (it shadows the "
                "built-in)"
            )
        close = suggest_ids(dataset_id, [*dict.fromkeys([*known, *DatasetRegistry.ids()])])
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise DatasetNotFoundError(
            f"{dataset_id!r} is not in the local registry {registry_path}.{hint} "
            "To drop a dataset registered only in this session, use DatasetRegistry.unregister"
        )
    if DatasetRegistry.restore_builtin(dataset_id) is None:
        DatasetRegistry.unregister(dataset_id)
    return _parsed_or_none(removed[-1])


def export_local_descriptor(
    dataset_id: str,
    output_path: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write one descriptor as a JSON object to ``output_path`` for sharing; returns that path.

    The local registry file is searched first, then every dataset registered in this process
    (built-ins included). Re-create it with ``DatasetDescriptor(**json.load(f))``.
    """
    saved = next((d for d in load_local_descriptors(path) if d.id == dataset_id), None)
    descriptor = saved or DatasetRegistry.require(dataset_id)
    destination = Path(output_path).expanduser()
    if destination.is_dir():
        raise RegistryError(
            f"export destination {destination} is a folder; give a file path such as "
            f"{destination / (dataset_id.replace('/', '--') + '.json')}"
        )
    jsonfile.write_atomic(destination, jsonfile.sorted_top_level(descriptor.to_dict()))
    return destination


def import_descriptor(
    path: str | os.PathLike[str],
    *,
    persist: bool = False,
    registry_path: str | os.PathLike[str] | None = None,
) -> DatasetDescriptor:
    """Read a descriptor JSON file (as written by export) and register it in this process.

    With ``persist=True`` it is also saved in the local registry file, for later sessions.
    """
    source = Path(path).expanduser()
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise DescriptorError(
            f"cannot read descriptor file {source}: {exc.strerror or exc}"
        ) from None
    data, problem = jsonfile.parse(raw)
    if problem or data is None:
        raise DescriptorError(f"descriptor file {source} {problem or 'is empty'}")
    if isinstance(data, list):
        raise DescriptorError(
            f"descriptor file {source} holds a list; expected one descriptor object as written "
            "by export. A local registry file is read with load_local_descriptors(path)"
        )
    try:
        descriptor = DatasetDescriptor.from_dict(data)
    except DescriptorError as exc:
        raise DescriptorError(f"descriptor file {source}: {exc}") from None
    DatasetRegistry.register(descriptor)
    if persist:
        save_local_descriptor(descriptor, registry_path)
    return descriptor


def install_local_descriptors(path: str | os.PathLike[str] | None = None) -> None:
    """Register every valid local descriptor in this process (done once at import)."""
    registry_path = local_registry_path(path)
    for descriptor in load_local_descriptors(registry_path):
        builtin = DatasetRegistry.builtin(descriptor.id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DatasetRegistry.register(descriptor)
        if builtin is not None and builtin != descriptor:
            _warn(f"{registry_path}: entry {descriptor.id!r} shadows the built-in dataset")


# --- internals ------------------------------------------------------------------------------


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)


def _entries(raw: bytes) -> tuple[list[Any], str | None]:
    """The raw entries of a registry file, or ([], reason) when the file is unusable."""
    data, problem = jsonfile.parse(raw)
    if problem:
        return [], problem
    if data is None:
        return [], None
    if not isinstance(data, list):
        return [], f"must hold a JSON list of descriptor objects, found a JSON {_kind(data)}"
    return data, None


_JSON_KINDS = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number"}


def _kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value), "number" if isinstance(value, float) else "null")


def _entry_id(entry: Any) -> str | None:
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        return entry["id"]
    return None


def _descriptor_or_warn(entry: Any, number: int, registry_path: Path) -> DatasetDescriptor | None:
    label = f"entry {number}" + (f" ({_entry_id(entry)!r})" if _entry_id(entry) else "")
    if not isinstance(entry, dict):
        _warn(f"{registry_path}: skipping {label}: a JSON {_kind(entry)}, not a descriptor object")
        return None
    try:
        return DatasetDescriptor.from_dict(entry)
    except DescriptorError as exc:
        _warn(f"{registry_path}: skipping {label}: {exc}. Fix or remove this entry")
        return None


def _parsed_or_none(entry: Any) -> DatasetDescriptor | None:
    try:
        return DatasetDescriptor.from_dict(entry)
    except DescriptorError:
        return None


def _sort_key(entry: Any) -> tuple[int, str]:
    ident = _entry_id(entry)
    return (0, ident) if ident is not None else (1, "")


@contextmanager
def _locked_entries(registry_path: Path) -> Iterator[list[Any]]:
    """Yield the file's raw entries under the cross-process lock; write them back atomically.

    Entries that are not valid descriptors are kept as they are. An unreadable file is copied
    to ``<file>.corrupt-<time>`` before being replaced.
    """
    try:
        registry_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(
            f"cannot create {registry_path.parent}: {exc.strerror}; set {ENV_HOME} or {ENV_PATH} "
            "to a writable location"
        ) from None
    lock = FileLock(f"{registry_path}.lock", timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryError(
            f"another process has held the lock {registry_path}.lock for {LOCK_TIMEOUT_S:.0f} s; "
            "try again when it has finished"
        ) from None
    try:
        try:
            raw = registry_path.read_bytes()
        except FileNotFoundError:
            raw = b""
        except OSError as exc:
            raise RegistryError(f"cannot read {registry_path}: {exc.strerror}") from None
        entries, problem = _entries(raw)
        before = list(entries)
        yield entries
        if entries == before and not problem:
            return
        if problem:
            backup = registry_path.with_name(
                f"{registry_path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
            )
            shutil.copyfile(registry_path, backup)
            _warn(f"local dataset registry {registry_path} {problem}; saved a copy as {backup}")
        entries.sort(key=_sort_key)
        jsonfile.write_atomic(registry_path, entries)
    finally:
        lock.release()
