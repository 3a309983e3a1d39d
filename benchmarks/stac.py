"""Static STAC catalogs (catalog.json -> collection.json -> items/*.json) for the benchmark data.

Asset hrefs in the generated items are object keys; rendering a catalog turns them into URLs of
the server that is running now (or leaves absolute local paths untouched).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any


def render_items(items: list[dict[str, Any]], base_url: str | None) -> list[dict[str, Any]]:
    """Copies of ``items`` whose relative asset hrefs are prefixed with ``base_url``."""
    out = []
    for item in items:
        item = copy.deepcopy(item)
        for asset in item["assets"].values():
            href = asset["href"]
            if base_url and not href.startswith(("/", "http://", "https://", "file://")):
                asset["href"] = f"{base_url.rstrip('/')}/{href}"
        out.append(item)
    return out


def write_catalog(
    directory: Path, collection_id: str, items: list[dict[str, Any]], description: str
) -> Path:
    """Write a self-contained static catalog with one collection; return the catalog.json path."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    coll_dir = tmp / collection_id
    (coll_dir / "items").mkdir(parents=True)
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": f"{collection_id}-catalog",
        "description": description,
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {
                "rel": "child",
                "href": f"./{collection_id}/collection.json",
                "type": "application/json",
            },
        ],
    }
    xs = [v for it in items for v in (it["bbox"][0], it["bbox"][2])]
    ys = [v for it in items for v in (it["bbox"][1], it["bbox"][3])]
    times = sorted(it["properties"]["datetime"] for it in items)
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection_id,
        "description": description,
        "license": "CC0-1.0",
        "extent": {
            "spatial": {"bbox": [[min(xs), min(ys), max(xs), max(ys)]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
        ]
        + [
            {"rel": "item", "href": f"./items/{it['id']}.json", "type": "application/geo+json"}
            for it in items
        ],
    }
    for it in items:
        it = dict(it, collection=collection_id)
        it["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ]
        (coll_dir / "items" / f"{it['id']}.json").write_text(json.dumps(it))
    (coll_dir / "collection.json").write_text(json.dumps(collection))
    (tmp / "catalog.json").write_text(json.dumps(catalog))
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)
    return directory / "catalog.json"
