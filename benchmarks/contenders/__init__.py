"""Contenders: one module each, run by :mod:`benchmarks.child` in a fresh process.

A contender module exposes ``WORKLOADS`` (workload name -> ``fn(plan, scratch) -> Digest``),
``skip_reason(workload) -> str | None`` and, when it reads through an index that must be built
first, ``prepare(plan) -> dict``. Its heavy imports happen at module import, before timing.
"""

CONTENDERS = (
    "rasteret",
    "reference",
    "rasterio",
    "rasterio_sequential",
    "async_geotiff",
    "torchgeo",
)

# Contenders that only take part in some workloads (the others are skipped without a process).
ONLY = {"torchgeo": ("W4",)}

MODULES = {
    "rasteret": "benchmarks.contenders.ours",
    "reference": "benchmarks.contenders.reference",
    "rasterio": "benchmarks.contenders.rasterio_tuned",
    "rasterio_sequential": "benchmarks.contenders.rasterio_sequential",
    "async_geotiff": "benchmarks.contenders.async_geotiff",
    "torchgeo": "benchmarks.contenders.torchgeo",
}
