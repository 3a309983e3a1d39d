"""rasterio with GDAL's default settings, one file after another.

This is how most scripts and TorchGeo's ``RasterDataset`` read, and what the reference
implementation's published speed-ups are measured against.
"""

from __future__ import annotations

import os

# Defaults: drop every GDAL setting except the CA bundle needed to reach the HTTPS server.
for _name in [k for k in os.environ if k.startswith(("GDAL_", "CPL_", "VSI_"))]:
    if _name != "GDAL_CURL_CA_BUNDLE":
        del os.environ[_name]

from benchmarks.contenders.gdal_reads import make_workloads  # noqa: E402

WORKLOADS = make_workloads(lambda fn, items: [fn(item) for item in items])


def skip_reason(workload: str) -> str | None:
    return None
