"""README.md's Python snippets, run in order as written against the local servers.

Only addresses differ: the STAC API is the test pgstac server (collection ``rt-readme-s2``
instead of ``sentinel-2-l2a``, which another module of the shared server uses) and the built-in
``earthsearch/sentinel-2-l2a`` points at it too. The scenes sit where the snippets' bboxes, AOI
and point are, on the dates they ask for; the files the snippets name relative to the working
folder (a static catalog, ``index.parquet``) are written there first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio

from rasteret import DatasetRegistry
from tests.catalog.isolation import registry_file
from tests.collection import data

__all__ = ["registry_file"]

README = Path(__file__).resolve().parents[1] / "README.md"
EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
COLLECTION = "rt-readme-s2"
ORIGIN = (11.29, 48.19)  # 512 px x 10 m scenes from here cover the README's AOI and point
CLOUD = [5.0, 50.0, 10.0]  # two scenes pass subset(cloud_cover_lt=20)


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 3, "README's Python snippets changed: update this test"
    return blocks


@pytest.fixture(scope="module")
def stac_scenes(stac_server, nginx_server, nginx_root: Path) -> list[data.Scene]:
    root = nginx_root / "rt-readme"
    scenes = []
    for k, cloud in enumerate(CLOUD):
        start = dt.datetime(2024, 6, 5, 10, tzinfo=dt.UTC) + dt.timedelta(days=15 * k)
        (scene,) = data.make_scenes(
            root, 1, size=512, prefix=f"readme{k}", start=start, origin=ORIGIN, zones=(32632,)
        )
        scene.cloud_cover = cloud
        scenes.append(scene)
    stac_server.add_collections([data.stac_collection(COLLECTION, scenes)])
    http = f"{nginx_server.url}/rt-readme"
    stac_server.add_items(
        [data.stac_item(s, lambda rel: f"{http}/{rel}", collection=COLLECTION) for s in scenes]
    )
    for s in scenes:  # the files, by absolute path, for the ground truth
        s.files = {band: str(root / rel) for band, rel in s.files.items()}
    return scenes


def test_readme_snippets_run_as_written(
    stac_scenes: list[data.Scene], stac_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RASTERET_WORKSPACE", str(tmp_path / "workspace"))
    local = data.make_scenes(tmp_path, 2, prefix="survey", origin=ORIGIN, zones=(32632,))
    data.write_static_catalog(tmp_path, local, "field-survey")
    pq.write_table(
        pa.table(
            {
                "fid": [s.id for s in local],
                "geom": [s.footprint.wkb for s in local],
                "cog_url": [str(tmp_path / s.files["image"]) for s in local],
            }
        ),
        tmp_path / "index.parquet",
    )
    builtin = DatasetRegistry.get("earthsearch/sentinel-2-l2a")
    assert builtin is not None
    served = {b: a for b, a in (builtin.band_map or {}).items() if a in data.ASSET_KEYS.values()}
    local_s2 = dataclasses.replace(
        builtin, stac_api=stac_server.url, stac_collection=COLLECTION, band_map=served
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it shadows the built-in, on purpose
        DatasetRegistry.register(local_s2)

    ns: dict = {}
    for block in python_blocks():
        code = block.replace(EARTH_SEARCH, stac_server.url)
        code = code.replace('"sentinel-2-l2a"', f'"{COLLECTION}"')
        exec(compile(code, str(README), "exec"), ns)

    clear, arr, ds, pts = ns["clear"], ns["arr"], ns["ds"], ns["pts"]
    kept = [s for s in stac_scenes if s.cloud_cover < 20]
    assert sorted(clear.to_table(columns=["id"]).column("id").to_pylist()) == [s.id for s in kept]
    assert arr.shape[:2] == (2, 2) and ds["B04"].shape[0] == 2
    assert len(ns["gdf"]) == 2 and len(ns["again"]) == 2
    assert (
        len(ns["s2"]) == 3
        and ns["s2"].bands == list(served)
        and len(ns["static"]) == 2
        and len(ns["table"]) == 2
    )
    assert ns["table"].bands == ["R", "G", "B"]
    # point values equal rasterio's sample of the same files
    got = {(r["record_id"], r["band"]): r["value"] for r in pts.to_pylist()}
    assert len(got) == 4
    for scene in kept:
        for band in ("B04", "B08"):
            with rasterio.open(scene.files[band]) as src:
                x, y = rasterio.warp.transform("EPSG:4326", src.crs, [11.32], [48.16])
                (want,) = next(src.sample([(x[0], y[0])]))
            assert got[(scene.id, band)] == float(np.float64(want))
    assert DatasetRegistry.get("acme/field-survey-2024") is not None
