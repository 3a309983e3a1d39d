"""Small synthetic scenes for collection tests: COGs written with rasterio, STAC items, catalogs.

Scenes alternate between two UTM zones (EPSG:32632 / 32633) near 12°E 45°N; each scene has four
single-band COGs (B02, B03, B04, B08) and one 4-band multi-sample COG (``image``). Pixel values
depend on scene and band so that mix-ups show.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

BANDS = ("B02", "B03", "B04", "B08")
ASSET_KEYS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir"}
ZONES = (32632, 32633)
LON0, LAT0 = 12.0, 45.0


@dataclass
class Scene:
    """One synthetic scene: where its files are (relative to the data root) and its footprint."""

    id: str
    datetime: dt.datetime
    epsg: int
    transform: Any
    size: int
    files: dict[str, str] = field(default_factory=dict)  # band/asset key -> relative path
    cloud_cover: float = 0.0

    @property
    def footprint(self) -> shapely.Polygon:
        """The raster extent in lon/lat."""
        t = self.transform
        xs = [t.c, t.c + t.a * self.size, t.c + t.a * self.size, t.c]
        ys = [t.f, t.f, t.f + t.e * self.size, t.f + t.e * self.size]
        tr = Transformer.from_crs(self.epsg, 4326, always_xy=True)
        lon, lat = tr.transform(xs, ys)
        return shapely.Polygon(zip(lon, lat, strict=True))


def _origin(epsg: int, i: int, lon0: float, lat0: float) -> tuple[float, float]:
    """UTM origin of scene ``i``: a small grid of scenes south-east of (lon0, lat0)."""
    lon = lon0 + 0.05 * (i % 5)
    lat = lat0 - 0.05 * ((i // 5) % 5)
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    return round(x, -1), round(y, -1)


def write_cog(
    path: Path, data: np.ndarray, epsg: int, transform: Any, nodata: float | None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = data.shape[0]
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=data.shape[2],
        height=data.shape[1],
        count=count,
        dtype=data.dtype,
        crs=f"EPSG:{epsg}",
        transform=transform,
        compress="DEFLATE",
        blocksize=128,
        overviews="AUTO",
        overview_resampling="nearest",
        nodata=nodata,
    ) as dst:
        dst.write(data)


def make_scenes(
    root: Path,
    n: int = 4,
    *,
    size: int = 256,
    prefix: str = "scene",
    multiband: bool = True,
    start: dt.datetime = dt.datetime(2024, 1, 10, 10, 30, tzinfo=dt.UTC),
    step_days: int = 20,
    origin: tuple[float, float] = (LON0, LAT0),
    zones: tuple[int, ...] = ZONES,
) -> list[Scene]:
    """Write ``n`` scenes under ``root`` (``<id>/<band>.tif`` and ``<id>/image.tif``).

    Scenes sit on a 0.05 degree grid from ``origin`` (lon, lat), alternate between ``zones``
    and are ``step_days`` apart from ``start``.
    """
    scenes = []
    rng = np.random.default_rng(7)
    for i in range(n):
        epsg = zones[i % len(zones)]
        x0, y0 = _origin(epsg, i, *origin)
        transform = from_origin(x0, y0, 10.0, 10.0)
        scene = Scene(
            id=f"{prefix}-{i:03d}",
            datetime=start + dt.timedelta(days=step_days * i, hours=i % 3),
            epsg=epsg,
            transform=transform,
            size=size,
            cloud_cover=float(round(rng.uniform(0, 100), 1)),
        )
        stack = []
        for b, band in enumerate(BANDS):
            values = (np.arange(size * size).reshape(size, size) * (b + 1) + 1000 * i) % 60000
            arr = values.astype("uint16")[None]
            arr[0, 0, 0] = 0  # one nodata pixel
            rel = f"{scene.id}/{band}.tif"
            write_cog(root / rel, arr, epsg, transform, nodata=0)
            scene.files[band] = rel
            stack.append(arr[0])
        if multiband:
            rel = f"{scene.id}/image.tif"
            write_cog(root / rel, np.stack(stack), epsg, transform, nodata=0)
            scene.files["image"] = rel
        scenes.append(scene)
    return scenes


def stac_item(
    scene: Scene,
    href_of: Any,
    *,
    collection: str,
    asset_keys: dict[str, str] | None = ASSET_KEYS,
) -> dict[str, Any]:
    """A STAC item for ``scene``; ``href_of(relative path)`` gives each asset's href."""
    geom = scene.footprint
    assets: dict[str, Any] = {}
    for band, rel in scene.files.items():
        key = asset_keys.get(band, band) if asset_keys else band
        assets[key] = {
            "href": href_of(rel),
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
        }
    assets["thumbnail"] = {
        "href": href_of(f"{scene.id}/thumb.png"),
        "type": "image/png",
        "roles": ["thumbnail"],
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": scene.id,
        "collection": collection,
        "geometry": shapely.geometry.mapping(geom),
        "bbox": list(geom.bounds),
        "properties": {
            "datetime": scene.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eo:cloud_cover": scene.cloud_cover,
            "proj:epsg": scene.epsg,
            "platform": "synthetic",
        },
        "links": [],
        "assets": assets,
    }


def stac_collection(collection: str, scenes: list[Scene]) -> dict[str, Any]:
    bounds = shapely.union_all([s.footprint for s in scenes]).bounds
    times = sorted(s.datetime for s in scenes)
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection,
        "description": "synthetic test scenes",
        "license": "proprietary",
        "links": [],
        "extent": {
            "spatial": {"bbox": [list(bounds)]},
            "temporal": {"interval": [[times[0].isoformat(), times[-1].isoformat()]]},
        },
    }


def write_static_catalog(root: Path, scenes: list[Scene], collection: str) -> Path:
    """A static catalog under ``root/catalog`` whose items point at ``root/<files>`` relatively.

    Layout: catalog.json -> <collection>/collection.json -> <collection>/<id>/<id>.json, with
    asset hrefs like ``../../../scene-000/B04.tif``.
    """
    cat_dir = root / "catalog"
    coll_dir = cat_dir / collection
    coll_dir.mkdir(parents=True, exist_ok=True)
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "root",
        "description": "test catalog",
        "links": [{"rel": "child", "href": f"./{collection}/collection.json"}],
    }
    coll = stac_collection(collection, scenes)
    coll["links"] = []
    for scene in scenes:
        item_dir = coll_dir / scene.id
        item_dir.mkdir(parents=True, exist_ok=True)
        item = stac_item(scene, lambda rel: f"../../../{rel}", collection=collection)
        (item_dir / f"{scene.id}.json").write_text(json.dumps(item))
        coll["links"].append({"rel": "item", "href": f"./{scene.id}/{scene.id}.json"})
    (coll_dir / "collection.json").write_text(json.dumps(coll))
    (cat_dir / "catalog.json").write_text(json.dumps(catalog))
    return cat_dir / "catalog.json"
