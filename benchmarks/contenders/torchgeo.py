"""TorchGeo's ``RasterDataset`` for the chip workload (W4), when TorchGeo is installed.

TorchGeo 0.8 has no time-series mode, so each date is its own ``RasterDataset`` (one scene,
``separate_files`` = one COG per band, read through GDAL ``/vsicurl/``) and a chip is one query
per date, stacked: what a sampler over a stack of per-date datasets does. Building the datasets
(which opens every scene to index it) is part of the time: TorchGeo keeps no index between
processes. GDAL settings are those of the reference implementation's TorchGeo benchmark. Images
come back as float32; they are cast back to uint16 (exact) for the pixel comparison.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.digest import Digest

# The reference's published TorchGeo comparison used these GDAL settings.
os.environ.update(
    {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_MAX_RAW_BLOCK_CACHE_SIZE": "200000000",
        "GDAL_SWATH_SIZE": "200000000",
        "VSI_CURL_CACHE_SIZE": "200000000",
    }
)

try:
    import numpy as np
    from pyproj import CRS
    from torchgeo.datasets import RasterDataset

    _MISSING = None
except ImportError as e:
    _MISSING = f"torchgeo is not installed ({e}); run with --setup-torchgeo to create its venv"


def skip_reason(workload: str) -> str | None:
    return _MISSING


def _w4(plan: dict, scratch: Path) -> Digest:
    class Scene(RasterDataset):
        filename_glob = f"{plan['bands'][0]}.tif"
        filename_regex = r"^(?P<band>B\d\d)\.tif$"
        separate_files = True
        all_bands = tuple(plan["bands"])

    crs = CRS.from_epsg(plan["tile"]["epsg"])
    res = plan["res"]
    datasets = [
        Scene(
            paths=[f"/vsicurl/{scene['hrefs'][plan['bands'][0]]}"],
            crs=crs,
            res=res,
            bands=plan["bands"],
        )
        for scene in plan["scenes"]
    ]
    digest = Digest()
    for i, chip in enumerate(plan["chips"]):
        minx, miny, maxx, maxy = chip["bounds"]
        for ds in datasets:
            image = ds[minx:maxx:res, miny:maxy:res]["image"].numpy()
            for k, band in enumerate(plan["bands"]):
                digest.add_array(f"chip{i}/{band}", image[k].astype(np.uint16))
    return digest


WORKLOADS = {"W4": _w4}
