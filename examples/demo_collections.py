"""Collections, as shown by ``make demo``: offline, in a folder of your choice.

``run(workdir)`` writes a few small COG scenes and a static STAC catalog into ``workdir``,
registers a dataset for it, builds a collection (every header parsed once), filters it,
exports it, registers the export as ``local/demo-scenes`` and reloads it by id, printing what
each step did and how long it took. It returns the built collection.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

COLLECTION_ID = "demo-scenes"
BANDS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir"}


@contextmanager
def step(title: str) -> Iterator[None]:
    print(f"\n== {title}")
    start = time.perf_counter()
    yield
    print(f"   ({(time.perf_counter() - start) * 1000:.0f} ms)")


def write_scenes(root: Path, n: int = 4) -> list[dict[str, Any]]:
    """``n`` 256x256 COGs per band, alternating UTM zones 32N/33N near 12.3E 45.4N."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    scenes = []
    for i in range(n):
        epsg = 32632 if i % 2 == 0 else 32633
        lon, lat = 12.3 + 0.05 * i, 45.4
        x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        transform = from_origin(round(x, -1), round(y, -1), 10.0, 10.0)
        scene = {
            "id": f"demo-{i:02d}",
            "datetime": dt.datetime(2024, 3 + i, 5 + i, 10, 30, tzinfo=dt.UTC),
            "cloud_cover": [3.5, 41.0, 12.2, 87.9][i % 4],
            "epsg": epsg,
            "transform": transform,
            "files": {},
        }
        for b, band in enumerate(BANDS):
            data = ((np.indices((256, 256)).sum(0) * (b + 1) + 500 * i) % 10000).astype("uint16")
            rel = f"scenes/{scene['id']}/{band}.tif"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(
                root / rel,
                "w",
                driver="COG",
                width=256,
                height=256,
                count=1,
                dtype="uint16",
                crs=f"EPSG:{epsg}",
                transform=transform,
                compress="DEFLATE",
                blocksize=128,
                nodata=0,
            ) as dst:
                dst.write(data, 1)
            scene["files"][band] = rel
        scenes.append(scene)
    return scenes


def _footprint(scene: dict[str, Any]) -> list[list[float]]:
    from pyproj import Transformer

    t = scene["transform"]
    xs = [t.c, t.c + 2560, t.c + 2560, t.c, t.c]
    ys = [t.f, t.f, t.f - 2560, t.f - 2560, t.f]
    lon, lat = Transformer.from_crs(scene["epsg"], 4326, always_xy=True).transform(xs, ys)
    return [[a, b] for a, b in zip(lon, lat, strict=True)]


def write_catalog(root: Path, scenes: list[dict[str, Any]]) -> Path:
    """catalog.json -> collection.json -> items, asset hrefs relative to each item file."""
    coll_dir = root / "catalog" / COLLECTION_ID
    links = []
    for s in scenes:
        ring = _footprint(s)
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        item = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": s["id"],
            "collection": COLLECTION_ID,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "bbox": [min(xs), min(ys), max(xs), max(ys)],
            "properties": {
                "datetime": s["datetime"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eo:cloud_cover": s["cloud_cover"],
            },
            "links": [],
            "assets": {
                asset: {
                    "href": f"../../../{s['files'][band]}",
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "roles": ["data"],
                }
                for band, asset in BANDS.items()
            },
        }
        path = coll_dir / s["id"] / f"{s['id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{s['id']}/{s['id']}.json"})
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION_ID,
        "description": "demo scenes",
        "license": "CC0-1.0",
        "extent": {
            "spatial": {"bbox": [[12.0, 45.0, 13.0, 46.0]]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
        },
        "links": links,
    }
    (coll_dir / "collection.json").write_text(json.dumps(collection))
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "demo",
        "description": "demo catalog",
        "links": [{"rel": "child", "href": f"./{COLLECTION_ID}/collection.json"}],
    }
    (root / "catalog" / "catalog.json").write_text(json.dumps(catalog))
    return root / "catalog" / "catalog.json"


def run(workdir: Path) -> Any:
    """Build, filter, export, register and reload a collection of local scenes in ``workdir``."""
    import rasteret

    workdir = Path(workdir)
    workspace = workdir / "workspace"

    with step("Write 4 scenes x 4 bands of small COGs and a static STAC catalog"):
        scenes = write_scenes(workdir)
        catalog = write_catalog(workdir, scenes)
        print(
            f"   {sum(len(s['files']) for s in scenes)} COGs, catalog {catalog.relative_to(workdir)}"
        )

    with step("Register a dataset for the catalog: rasteret.register(DatasetDescriptor(...))"):
        rasteret.register(
            rasteret.DatasetDescriptor(
                id="demo/scenes",
                name="Demo scenes",
                stac_api=str(catalog),
                static_catalog=True,
                stac_collection=COLLECTION_ID,
                band_map={"B02": "blue", "B03": "green", "B04": "red", "B08": "nir"},
                spatial_coverage="local",
                license="CC0-1.0",
            )
        )
        print("   registered 'demo/scenes' (static catalog, 4 bands)")

    with step("Build: rasteret.build('demo/scenes', name='demo') parses every header once"):
        collection = rasteret.build(
            "demo/scenes", name="demo", workspace_dir=workspace, progress=False
        )
        print(f"   {collection}")
        print(f"   {collection.build_report.summary()}")
        print(
            f"   written to {Path(collection.path).relative_to(workdir)} (GeoParquet, year/month)"
        )

    with step("Filter (views, nothing is read): subset(cloud_cover_lt=50, date_range=...)"):
        clear = collection.subset(cloud_cover_lt=50, date_range=("2024-03-01", "2024-05-31"))
        print(f"   {len(collection)} records -> {len(clear)} with cloud cover < 50 in Mar-May")
        table = clear.to_table(columns=["id", "datetime", "eo:cloud_cover", "crs"])
        for row in table.to_pylist():
            print(
                f"   {row['id']}  {row['datetime']:%Y-%m-%d}  cloud {row['eo:cloud_cover']:>5}"
                f"  {row['crs']}"
            )

    with step("Query it with DuckDB straight from the collection (Arrow stream)"):
        try:
            import duckdb
        except ImportError:
            print("   duckdb is not installed; skipped")
        else:
            rows = duckdb.sql(
                'select crs, count(*) as n, round(avg("eo:cloud_cover"), 1) as cloud '
                "from collection group by crs order by crs"
            ).fetchall()
            for crs, n, cloud in rows:
                print(f"   {crs}: {n} records, mean cloud cover {cloud}")

    with step("Export the filtered view: clear.export(path)"):
        export_path = clear.export(workdir / "collections" / "demo_clear")
        files = sorted(p.relative_to(export_path) for p in export_path.rglob("*.parquet"))
        print(f"   {len(files)} Parquet files: {', '.join(map(str, files))}")

    with step("Register the export: rasteret.register_local('local/demo-scenes', path)"):
        descriptor = rasteret.register_local(
            "local/demo-scenes", export_path, description="Clear demo scenes"
        )
        print(f"   {descriptor.id} -> {Path(descriptor.collection_uri).relative_to(workdir)}")
        print(f"   temporal range {descriptor.temporal_range}, bands {list(descriptor.band_map)}")

    with step("Reload by id: rasteret.build('local/demo-scenes', name='reloaded')"):
        reloaded = rasteret.build("local/demo-scenes", name="reloaded")
        print(f"   {reloaded}")
        record = next(reloaded.iter_records(["B04"]))
        header = record.bands["B04"].header
        print(
            f"   {record.record_id}: B04 {header.width}x{header.height}, "
            f"{len(header.images[0].offsets)} tiles + {len(header.images) - 1} overview(s), "
            "ready to read with no header request"
        )
    return collection


if __name__ == "__main__":
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rasteret-collections-") as tmp:
        os.environ["RASTERET_HOME"] = tmp
        run(Path(tmp))
