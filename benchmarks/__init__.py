"""Benchmark suite: rasteret side by side with the reference, rasterio/GDAL and async-geotiff.

Run with ``python -m benchmarks.run`` (``make bench``; ``--quick`` for ``make bench-quick``).
This package is imported by contender processes in other virtual environments too, so modules
that a contender process loads (``config``, ``digest``, ``child``, ``contenders``) use only the
standard library and NumPy.
"""
