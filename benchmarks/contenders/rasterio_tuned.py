"""rasterio/GDAL with the settings the field recommends and a thread pool over files.

Settings follow the TiTiler performance-tuning guide and the Pangeo COG best practices: no
directory listing on open, one 32 KiB read for the header, consecutive ranges merged into one
request, HTTP/2 multiplexing when the server offers it, curl and block caches, multi-threaded
decoding inside GDAL, and 32 files open at once (GDAL releases the GIL while it waits on I/O).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from benchmarks.contenders.gdal_settings import THREADS, TUNED_GDAL

# GDAL reads configuration from the environment too; setting it before rasterio is imported
# makes it apply in every worker thread (rasterio.Env is per thread).
os.environ.update(TUNED_GDAL)

from benchmarks.contenders.gdal_reads import make_workloads  # noqa: E402

_POOL = ThreadPoolExecutor(max_workers=THREADS)


def _pool_map(fn, items):
    return list(_POOL.map(fn, items))


WORKLOADS = make_workloads(_pool_map)


def skip_reason(workload: str) -> str | None:
    return None
