"""``rasteret datasets``: list, inspect, register, export and unregister dataset descriptors.

``register`` and ``unregister`` change the local registry file, since the in-memory registry
ends with the process.
"""

from __future__ import annotations

import argparse

from rasteret.catalog import (
    DatasetDescriptor,
    DatasetRegistry,
    export_local_descriptor,
    import_descriptor,
    local_registry_path,
    unregister_local_descriptor,
)
from rasteret.cli import command_group
from rasteret.cli._output import clip, print_json, print_table

GROUP_HELP = "list, inspect, register and share dataset descriptors"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` actions."""
    actions = command_group(subparsers, "datasets", GROUP_HELP)

    listing = actions.add_parser("list", help="list registered datasets")
    listing.add_argument("--search", metavar="KEYWORD", help="match id, name, description, bands")
    listing.add_argument("--json", action="store_true", help="print descriptors as JSON")
    listing.set_defaults(handler=list_datasets)

    info = actions.add_parser("info", help="show one dataset")
    info.add_argument("dataset_id", metavar="ID")
    info.add_argument("--json", action="store_true", help="print the descriptor as JSON")
    info.set_defaults(handler=show_dataset)

    add = actions.add_parser("register", help="save a descriptor JSON file in the local registry")
    add.add_argument("file", metavar="FILE.json")
    add.set_defaults(handler=register_dataset)

    export = actions.add_parser("export", help="write one descriptor to a JSON file for sharing")
    export.add_argument("dataset_id", metavar="ID")
    export.add_argument("output", metavar="OUT.json")
    export.set_defaults(handler=export_dataset)

    remove = actions.add_parser("unregister", help="remove a dataset from the local registry")
    remove.add_argument("dataset_id", metavar="ID")
    remove.set_defaults(handler=unregister_dataset)


def list_datasets(args: argparse.Namespace) -> int:
    """Table (or JSON list) of registered datasets, optionally filtered by keyword."""
    found = DatasetRegistry.search(args.search) if args.search else DatasetRegistry.list()
    if args.json:
        print_json([d.to_dict() for d in found])
        return 0
    if not found:
        print(f"no dataset matches {args.search!r}")
        return 0
    rows = [
        [
            d.id,
            clip(d.name, 44),
            d.spatial_coverage or "-",
            clip(d.license or "-", 20),
            "yes" if d.requires_auth else "no",
            origin(d),
        ]
        for d in found
    ]
    print_table(["ID", "NAME", "COVERAGE", "LICENSE", "AUTH", "ORIGIN"], rows)
    return 0


def show_dataset(args: argparse.Namespace) -> int:
    """Every set field of one dataset, readable, or its descriptor as JSON."""
    descriptor = DatasetRegistry.require(args.dataset_id)
    if args.json:
        print_json(descriptor.to_dict())
        return 0
    print(descriptor.id)
    for label, value in describe(descriptor):
        print(f"  {label:<16}{value}")
    return 0


def register_dataset(args: argparse.Namespace) -> int:
    """Validate a descriptor file and save it in the local registry."""
    descriptor = import_descriptor(args.file, persist=True)
    print(f"registered {descriptor.id} in {local_registry_path()}")
    return 0


def export_dataset(args: argparse.Namespace) -> int:
    """Write one descriptor (local, built-in) to a JSON file."""
    path = export_local_descriptor(args.dataset_id, args.output)
    print(f"exported {args.dataset_id} to {path}")
    return 0


def unregister_dataset(args: argparse.Namespace) -> int:
    """Remove a dataset from the local registry file (built-ins cannot be removed)."""
    unregister_local_descriptor(args.dataset_id)
    note = (
        " (the built-in descriptor applies again)"
        if DatasetRegistry.is_builtin(args.dataset_id)
        else ""
    )
    print(f"unregistered {args.dataset_id} from {local_registry_path()}{note}")
    return 0


def origin(descriptor: DatasetDescriptor) -> str:
    """'built-in' for a shipped descriptor, 'local' for one from the registry file or session."""
    builtin = DatasetRegistry.builtin(descriptor.id)
    if builtin is None:
        return "local"
    return "built-in" if builtin == descriptor else "local (shadows built-in)"


def describe(d: DatasetDescriptor) -> list[tuple[str, str]]:
    """(label, text) lines for the fields of ``d`` that are set."""
    lines = [
        ("name", d.name),
        ("description", d.description),
        ("origin", origin(d)),
        ("access", d.access_method or "none (cannot be built)"),
        ("stac api", d.stac_api or ""),
        ("stac collection", d.stac_collection or ""),
        ("static catalog", "yes" if d.static_catalog else ""),
        ("record table", d.record_table_uri or d.geoparquet_uri or ""),
        ("index", d.index_uri or ""),
        ("collection uri", d.collection_uri or ""),
        ("href column", d.href_column or ""),
        ("coverage", d.spatial_coverage),
        ("temporal", " .. ".join(d.temporal_range) if d.temporal_range else ""),
        ("license", " ".join(filter(None, [d.license, d.license_url and f"<{d.license_url}>"]))),
        ("commercial use", "yes" if d.commercial_use else "no"),
        ("auth", _auth(d)),
        ("cloud", _cloud(d)),
        ("bands", _bands(d)),
        ("files", "one COG per band" if d.separate_files else "multi-band COG"),
        ("example bbox", ", ".join(f"{x:g}" for x in d.example_bbox) if d.example_bbox else ""),
        ("example dates", " .. ".join(d.example_date_range) if d.example_date_range else ""),
        ("torchgeo", _torchgeo(d)),
    ]
    return [(label, text) for label, text in lines if text]


def _auth(d: DatasetDescriptor) -> str:
    if not d.requires_auth:
        return "not required"
    return "required" + (
        f" (credentials from {d.s3_credentials_url})" if d.s3_credentials_url else ""
    )


def _cloud(d: DatasetDescriptor) -> str:
    c = d.cloud_config
    if not c:
        return ""
    parts = [c["provider"]]
    parts += [f"region {c['region']}"] if c.get("region") else []
    parts += ["requester pays"] if c.get("requester_pays") else []
    parts += ["anonymous"] if c.get("anonymous") else []
    parts += [f"endpoint {c['endpoint']}"] if c.get("endpoint") else []
    parts += [f"{src} -> {dst}" for src, dst in (c.get("url_patterns") or {}).items()]
    return ", ".join(parts)


def _bands(d: DatasetDescriptor) -> str:
    if d.band_map:
        index = d.band_index_map or {}
        return ", ".join(
            f"{code}={asset}" + (f"[{index[code]}]" if code in index else "")
            for code, asset in d.band_map.items()
        )
    if d.band_index_map:
        return f"{len(d.band_index_map)} samples: " + clip(", ".join(d.band_index_map), 60)
    return ""


def _torchgeo(d: DatasetDescriptor) -> str:
    if not d.torchgeo_class:
        return ""
    return f"{d.torchgeo_class} ({'verified' if d.torchgeo_verified else 'not verified'})"
