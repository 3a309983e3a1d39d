"""The workloads through rasteret's public API, shared by this project and the reference.

Both packages import as ``rasteret`` and promise the same API (``build_from_stac``, ``load``,
``Collection.get_numpy``, ``sample_points``, ``read_window``), so one module serves both; each
contender runs it in its own virtual environment. Calls use the API's defaults, as a user would.
"""

from __future__ import annotations

import importlib
import pkgutil
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

import rasteret
from benchmarks.digest import Digest, date_of

BUCKET_MARK = "/bench/"


def preload() -> None:
    """Import every module of the package now, before the clock starts.

    Both packages import most modules lazily, on first use; without this the first call of a
    workload would pay for importing pyarrow.dataset, rasterio, shapely... (imports are part of
    interpreter start-up, which is excluded for every contender).
    """
    for info in pkgutil.walk_packages(rasteret.__path__, "rasteret."):
        if ".tests" in info.name or info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # optional integrations (torch, HF...) may not import; not needed
            pass


preload()


def build_s2(catalog: str, collection: str, bands: list[str], name: str, workspace: Path, **kw):
    """Index a static catalog of single-band-per-file scenes."""
    return rasteret.build_from_stac(
        name=name,
        stac_api=catalog,
        collection=collection,
        data_source=collection,
        static_catalog=True,
        band_map={b: b for b in bands},
        workspace_dir=str(workspace),
        **kw,
    )


def build_multiband(catalog: str, collection: str, bands: list[str], name: str, workspace: Path):
    """Index a static catalog whose one asset ``data`` holds every band (pixel-interleaved)."""
    return rasteret.build_from_stac(
        name=name,
        stac_api=catalog,
        collection=collection,
        data_source=collection,
        static_catalog=True,
        band_map=dict.fromkeys(bands, "data"),
        band_index_map={b: i for i, b in enumerate(bands)},
        workspace_dir=str(workspace),
    )


def built_path(workspace: Path) -> str:
    """The one collection directory a build wrote into ``workspace``."""
    found = [p for p in Path(workspace).iterdir() if p.is_dir()]
    if len(found) != 1:
        raise RuntimeError(f"expected one collection in {workspace}, found {found}")
    return str(found[0])


def prepare(plan: dict) -> dict[str, str]:
    """Build (or reuse) the collections the read workloads load; not timed."""
    out = {}
    for key, spec in plan["collections"].items():
        ws = Path(spec["workspace"])
        if not (ws.is_dir() and any(ws.iterdir())):
            shutil.rmtree(ws, ignore_errors=True)
            ws.mkdir(parents=True)
            build = build_multiband if spec["multiband"] else build_s2
            build(spec["catalog"], spec["collection"], plan["bands"], key, ws)
        out[key] = built_path(ws)
    return out


def w1(plan: dict, scratch: Path, header_rows) -> Digest:
    ws = scratch / "w1-workspace"
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    col = build_s2(
        plan["catalog"],
        plan["collection"],
        plan["bands"],
        "bench-w1",
        ws,
        date_range=tuple(plan["date_range"]),
        force=True,
    )
    digest = Digest()
    digest.defer(lambda d: [d.add_row(*row) for row in header_rows(col, plan["bands"])])
    return digest


def object_key(href: str) -> str:
    return href.split(BUCKET_MARK, 1)[1]


def w2(plan: dict, scratch: Path) -> Digest:
    col = rasteret.load(plan["collections"]["s2"])
    digest = Digest()
    for i, aoi in enumerate(plan["aois"]):
        arr = col.get_numpy(
            geometries=tuple(aoi["bounds"]),
            bands=plan["bands"],
            geometry_crs=aoi["tile"]["epsg"],
        )
        add_stack(digest, f"aoi{i}", arr, plan["bands"], len(aoi["scenes"]))
    return digest


def w3(plan: dict, scratch: Path) -> Digest:
    col = rasteret.load(plan["collections"]["s2"])
    lon, lat = zip(*plan["points_lonlat"], strict=True)
    points = pa.table({"x": pa.array(lon), "y": pa.array(lat)})
    table = col.sample_points(points, bands=plan["bands"], geometry_crs=4326)

    def rows(d: Digest) -> None:
        cols = table.select(["point_index", "datetime", "band", "value"]).to_pydict()
        for i, when, band, value in zip(*cols.values(), strict=True):
            d.add_row(int(i), date_of(when), band, value)

    digest = Digest()
    digest.defer(rows)
    return digest


def w4(plan: dict, scratch: Path) -> Digest:
    col = rasteret.load(plan["collections"]["s2"])
    ids = [s["id"] for s in plan["scenes"]]
    digest = Digest()
    for i, chip in enumerate(plan["chips"]):
        arr = col.read_window(
            record_ids=ids,
            bounds=tuple(chip["bounds"]),
            res=(plan["res"], plan["res"]),
            bands=plan["bands"],
            target_crs=plan["tile"]["epsg"],
            group_by="id",
        )
        add_stack(digest, f"chip{i}", arr, plan["bands"], len(ids))
    return digest


def w5(plan: dict, scratch: Path) -> Digest:
    digest = Digest()
    for key in ("single", "multiband"):
        col = rasteret.load(plan["collections"][f"w5_{key}"])
        arr = col.get_numpy(
            geometries=tuple(plan["bounds"]),
            bands=plan["bands"],
            geometry_crs=plan["tile"]["epsg"],
        )
        if arr.shape[0] != 1:
            raise RuntimeError(f"W5 {key}: expected one scene, got {arr.shape[0]}")
        for k, band in enumerate(plan["bands"]):
            digest.add_array(f"{key}/{band}", arr[0, k])
    return digest


def add_stack(digest: Digest, prefix: str, arr: Any, bands: list[str], expected: int) -> None:
    """Add a [T, C, H, W] (or [T, H, W] for one band) stack as per-band 2-D arrays."""
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.shape[0] != expected or arr.shape[1] != len(bands):
        raise RuntimeError(f"{prefix}: expected {expected} x {len(bands)} arrays, got {arr.shape}")
    for t in range(arr.shape[0]):
        for k, band in enumerate(bands):
            digest.add_array(f"{prefix}/{band}", arr[t, k])
