"""``rasteret build`` and ``rasteret datasets build|register-local|unregister-local|export-local``:
collections of registered datasets and local datasets in the registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from rasteret.cli import command_group
from rasteret.cli._output import print_json
from rasteret.cli.collections import (
    add_build_options,
    add_search_options,
    add_workspace,
    build_kwargs,
    report_built,
    resolve_collection_path,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser(
        "build", help="build a registered dataset's collection (= datasets build)"
    )
    _build_arguments(top)
    actions = command_group(subparsers, "datasets", "browse and manage the dataset registry")
    _build_arguments(actions.add_parser("build", help="build a registered dataset's collection"))

    local = actions.add_parser(
        "register-local", help="register a built collection as a local dataset"
    )
    local.add_argument("dataset_id", metavar="DATASET_ID", help="e.g. local/my-collection")
    local.add_argument("path", metavar="PATH", help="collection folder or workspace name")
    local.add_argument("--name", help="display name")
    local.add_argument("--description", default="")
    local.add_argument("--data-source", default="")
    add_workspace(local)
    local.add_argument("--registry-path", type=Path, metavar="FILE")
    local.add_argument("--no-persist", action="store_true", help="this session only")
    local.add_argument("--json", action="store_true", help="print the descriptor as JSON")
    local.set_defaults(handler=register_local)

    drop = actions.add_parser("unregister-local", help="remove a local dataset")
    drop.add_argument("dataset_id", metavar="DATASET_ID")
    drop.add_argument("--registry-path", type=Path, metavar="FILE")
    drop.add_argument("--json", action="store_true")
    drop.set_defaults(handler=unregister_local)

    export = actions.add_parser("export-local", help="write a local dataset's descriptor JSON")
    export.add_argument("dataset_id", metavar="DATASET_ID")
    export.add_argument("output_path", metavar="OUTPUT_PATH", type=Path)
    export.add_argument("--registry-path", type=Path, metavar="FILE")
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=export_local)


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset_id", metavar="DATASET_ID")
    parser.add_argument("name", metavar="NAME")
    add_search_options(parser)
    add_build_options(parser)
    parser.set_defaults(handler=build_dataset)


def build_dataset(args: argparse.Namespace) -> int:
    import rasteret

    collection = rasteret.build(
        args.dataset_id,
        name=args.name,
        bbox=args.bbox,
        date_range=args.date_range,
        query=args.query,
        **build_kwargs(args),
    )
    return report_built(collection, args.json)


def register_local(args: argparse.Namespace) -> int:
    import rasteret

    path = resolve_collection_path(args.path, args.workspace_dir)
    descriptor = rasteret.register_local(
        args.dataset_id,
        path,
        name=args.name,
        description=args.description,
        data_source=args.data_source,
        persist=not args.no_persist,
        registry_path=args.registry_path,
    )
    if args.json:
        print_json(descriptor.to_dict())
    else:
        where = "this session" if args.no_persist else "the local registry"
        print(f"registered {descriptor.id} -> {descriptor.collection_uri} in {where}")
    return 0


def unregister_local(args: argparse.Namespace) -> int:
    from rasteret.catalog import unregister_local_descriptor

    removed = unregister_local_descriptor(args.dataset_id, args.registry_path)
    if args.json:
        print_json({"unregistered": args.dataset_id, "descriptor": removed and removed.to_dict()})
    else:
        print(f"unregistered {args.dataset_id}")
    return 0


def export_local(args: argparse.Namespace) -> int:
    from rasteret.catalog import export_local_descriptor

    path = export_local_descriptor(args.dataset_id, args.output_path, args.registry_path)
    if args.json:
        print_json({"dataset_id": args.dataset_id, "path": str(path)})
    else:
        print(f"exported {args.dataset_id} to {path}")
    return 0
