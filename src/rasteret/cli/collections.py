"""``rasteret collections build|list|info|delete|import``: collections in a workspace folder."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from rasteret.cli import command_group
from rasteret.cli._output import clip, print_json, print_table
from rasteret.errors import CollectionError, ConfigError
from rasteret.ingest.headers import HEADER_CONCURRENCY


def register(subparsers: argparse._SubParsersAction) -> None:
    actions = command_group(subparsers, "collections", "build and manage cached collections")

    build = actions.add_parser("build", help="build a collection from a STAC API or catalog")
    build.add_argument("name", metavar="NAME")
    build.add_argument("--stac-api", required=True, metavar="URL", help="STAC API or catalog.json")
    build.add_argument("--collection", required=True, metavar="ID", help="STAC collection id")
    add_search_options(build)
    build.add_argument("--band-map", type=json_object, metavar="JSON", help='{"B04": "red"}')
    build.add_argument("--band-index-map", type=json_object, metavar="JSON", help='{"R": 0}')
    build.add_argument("--data-source", metavar="ID", help="data source id (default: collection)")
    build.add_argument(
        "--static-catalog", action="store_true", help="--stac-api is a static catalog.json"
    )
    add_build_options(build)
    build.set_defaults(handler=build_collection)

    listing = actions.add_parser("list", help="list the collections of a workspace")
    add_workspace(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_collections)

    info = actions.add_parser("info", help="show one collection")
    info.add_argument("name", metavar="NAME", help="collection name, folder name or path")
    add_workspace(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=show_collection)

    delete = actions.add_parser("delete", help="delete a cached collection")
    delete.add_argument("name", metavar="NAME")
    add_workspace(delete)
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=delete_collection)

    imp = actions.add_parser("import", help="build a collection from a Parquet record table")
    imp.add_argument("name", metavar="NAME")
    imp.add_argument(
        "--record-table", required=True, metavar="PATH", help="Parquet file/folder/URI"
    )
    imp.add_argument("--data-source", default="", metavar="ID")
    imp.add_argument("--column-map", type=json_object, metavar="JSON", help='{"fid": "id"}')
    imp.add_argument("--href-column", metavar="COLUMN", help="column of COG URLs")
    imp.add_argument("--band-index-map", type=json_object, metavar="JSON", help='{"R": 0}')
    imp.add_argument("--bbox-columns", type=json_object, metavar="JSON", help='{"minx": "w"}')
    imp.add_argument("--columns", type=comma_list, metavar="A,B,C", help="columns to keep")
    add_build_options(imp)
    imp.set_defaults(handler=import_collection)


# --- argument types and shared options ----------------------------------------------------------


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object {...}")
    return value


def comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def bbox_arg(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected minx,miny,maxx,maxy, got {text!r}")
    return values  # type: ignore[return-value]


def dates_arg(text: str) -> tuple[str, str]:
    parts = comma_list(text)
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected START,END (ISO dates), got {text!r}")
    return parts[0], parts[1]


def add_workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace-dir",
        type=Path,
        metavar="DIR",
        help="workspace folder (default: $RASTERET_WORKSPACE or ~/rasteret_workspace)",
    )


def add_search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bbox", type=bbox_arg, metavar="MINX,MINY,MAXX,MAXY")
    parser.add_argument("--date-range", type=dates_arg, metavar="START,END")
    parser.add_argument(
        "--query", type=json_object, metavar="JSON", help="STAC query or CQL2-JSON filter"
    )


def add_build_options(parser: argparse.ArgumentParser) -> None:
    add_workspace(parser)
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--max-concurrent", type=int, default=HEADER_CONCURRENCY, metavar="N")
    parser.add_argument("--strict", action="store_true", help="fail if any asset fails")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def build_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of a build call from :func:`add_build_options` flags."""
    return {
        "workspace_dir": args.workspace_dir,
        "force": args.force,
        "max_concurrent": args.max_concurrent,
        "progress": False if args.no_progress else None,
        "strict": args.strict,
    }


def report_built(collection: Any, as_json: bool) -> int:
    """Print what a build produced (and which assets failed)."""
    summary = summarize(collection)
    if as_json:
        print_json(summary)
        return 0
    print(f"built {summary['name']!r}: {summary['records']} records, bands {summary['bands']}")
    print(f"  path        {summary['path'] or '(in memory)'}")
    if summary["build"]:
        print(f"  build       {summary['build']}")
    return 0


def summarize(collection: Any) -> dict[str, Any]:
    start, end = collection.date_span() if len(collection) else (None, None)
    report = collection.build_report
    return {
        "name": collection.name,
        "path": collection.path,
        "data_source": collection.data_source,
        "records": len(collection),
        "bands": collection.bands,
        "crs": collection.crs,
        "bounds": collection.bounds,
        "date_range": [start.isoformat() if start else None, end.isoformat() if end else None],
        "build": report.summary() if report else None,
        "failures": [str(f) for f in report.failures] if report else [],
    }


# --- handlers -----------------------------------------------------------------------------------


def build_collection(args: argparse.Namespace) -> int:
    import rasteret

    collection = rasteret.build_from_stac(
        name=args.name,
        stac_api=args.stac_api,
        collection=args.collection,
        data_source=args.data_source,
        band_map=args.band_map,
        band_index_map=args.band_index_map,
        bbox=args.bbox,
        date_range=args.date_range,
        query=args.query,
        static_catalog=args.static_catalog,
        **build_kwargs(args),
    )
    return report_built(collection, args.json)


def import_collection(args: argparse.Namespace) -> int:
    import rasteret

    if not args.href_column and not args.column_map:
        print("note: without --href-column the table needs an 'assets' column", file=sys.stderr)
    collection = rasteret.build_from_table(
        args.record_table,
        name=args.name,
        data_source=args.data_source,
        column_map=args.column_map,
        href_column=args.href_column,
        band_index_map=args.band_index_map,
        bbox_columns=args.bbox_columns,
        columns=args.columns,
        **build_kwargs(args),
    )
    return report_built(collection, args.json)


def list_collections(args: argparse.Namespace) -> int:
    from rasteret.collection import Collection

    found = Collection.list_collections(args.workspace_dir)
    rows = []
    for c in found:
        start, end = c["date_range"] or (None, None)
        rows.append(
            {
                "name": c["name"],
                "folder": Path(c["path"]).name,
                "kind": c["kind"],
                "data_source": c["data_source"],
                "size": c["size"],
                "bands": c["bands"],
                "date_start": start,
                "date_end": end,
                "path": c["path"],
            }
        )
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no collections in the workspace")
        return 0
    print_table(
        ["NAME", "FOLDER", "KIND", "DATA SOURCE", "SIZE", "START", "END"],
        [
            [
                clip(r["name"], 30),
                clip(r["folder"], 36),
                r["kind"],
                clip(r["data_source"] or "-", 30),
                str(r["size"]),
                r["date_start"] or "-",
                r["date_end"] or "-",
            ]
            for r in rows
        ],
    )
    return 0


def resolve_collection_path(name: str, workspace_dir: Path | None) -> Path:
    """A collection folder from a path, a folder name or a collection name in the workspace."""
    from rasteret.collection import default_workspace

    direct = Path(name).expanduser()
    if direct.exists():
        return direct
    root = Path(workspace_dir).expanduser() if workspace_dir else default_workspace()
    for candidate in (root / name, root / f"{name}_stac", root / f"{name}_records"):
        if candidate.exists():
            return candidate
    matches = (
        sorted(p for p in root.glob(f"{name}*") if p.name.endswith(("_stac", "_records")))
        if root.is_dir()
        else []
    )
    if len(matches) == 1:
        return matches[0]
    known = (
        [p.name for p in sorted(root.iterdir()) if not p.name.startswith(".")]
        if root.is_dir()
        else []
    )
    hint = f"; ambiguous: {[m.name for m in matches]}" if matches else f"; collections: {known}"
    raise CollectionError(f"no collection {name!r} in {root}{hint}")


def show_collection(args: argparse.Namespace) -> int:
    from rasteret.collection import Collection

    path = resolve_collection_path(args.name, args.workspace_dir)
    collection = Collection.from_parquet(path)
    summary = summarize(collection)
    summary["split_column"] = "split" in collection.schema.names
    summary["columns"] = collection.schema.names
    if args.json:
        print_json(summary)
        return 0
    print(collection.describe())
    print(f"split column    {'yes' if summary['split_column'] else 'no'}")
    return 0


def delete_collection(args: argparse.Namespace) -> int:
    path = resolve_collection_path(args.name, args.workspace_dir)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"refusing to delete {path} without --yes (no terminal to ask)")
        answer = input(f"delete {path}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("kept")
            return 1
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    print(f"deleted {path}")
    return 0
