"""The built-in dataset catalog, kept as data in ``builtin.json`` next to this module."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from rasteret.catalog.descriptor import DatasetDescriptor

_RESOURCE = "builtin.json"


@cache
def _document() -> dict:
    text = resources.files(__package__).joinpath(_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def builtin_descriptors() -> tuple[DatasetDescriptor, ...]:
    """Every built-in dataset, validated, in catalog order."""
    return tuple(DatasetDescriptor.from_dict(entry) for entry in _document()["datasets"])


def builtin_aliases() -> dict[str, str]:
    """``{plain collection name: dataset id}`` whose band map and cloud config it shares."""
    return dict(_document()["aliases"])
