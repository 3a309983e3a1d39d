"""Full-image decode of a local COG: rasteret.tiff vs rasterio (default, and GDAL_NUM_THREADS).

Writes a 4096x4096x4 uint16 DEFLATE (predictor 2, 512 tiles) COG once into a temporary folder,
then times, in one process and interleaved round by round, ``open + read()`` of the whole image:

- ours: ``rasteret.tiff.open_geotiff(path).read()``
- rasterio default: ``rasterio.open(path).read()`` with GDAL's defaults (one decode thread)
- rasterio threads: the same inside ``rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS")``

and prints the medians and ratios. Target: ours <= rasterio_default / 1.5.

    python -m benchmarks.tiff_decode [--runs 7] [--size 4096] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_cog(path: Path, size: int) -> None:
    """A smooth-plus-noise 4-band uint16 image (compresses about 3:1 like real imagery)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(42)
    y, x = np.mgrid[0:size, 0:size].astype("float32")
    bands = []
    for b in range(4):
        field = 2000 + 800 * np.sin(x / (97 + 13 * b)) * np.cos(y / (131 + 7 * b))
        bands.append(field + rng.normal(0, 40, size=(size, size)))
    data = np.clip(np.stack(bands), 0, 65535).astype("uint16")
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=size,
        height=size,
        count=4,
        dtype="uint16",
        crs="EPSG:32633",
        transform=from_origin(500000, 5000000, 10, 10),
        compress="DEFLATE",
        predictor=2,
        blocksize=512,
        overviews="NONE",
    ) as dst:
        dst.write(data)


def ours(path: Path) -> np.ndarray:
    from rasteret.tiff import open_geotiff

    return open_geotiff(str(path)).read()


def rasterio_default(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:  # GDAL's defaults: one decode thread
        return src.read()


def rasterio_threads(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(path) as src:
        return src.read()


CONTENDERS: dict[str, Callable[[Path], np.ndarray]] = {
    "rasteret.tiff": ours,
    "rasterio (default)": rasterio_default,
    "rasterio (GDAL_NUM_THREADS=ALL_CPUS)": rasterio_threads,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (after one warm-up)")
    parser.add_argument("--size", type=int, default=4096, help="image width and height")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the COG in")
    args = parser.parse_args(argv)
    if "GDAL_NUM_THREADS" in os.environ:
        parser.error("unset GDAL_NUM_THREADS: the baseline is rasterio with GDAL's defaults")

    with tempfile.TemporaryDirectory(prefix="rasteret-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"cog_{args.size}_u16x4_deflate_p2.tif"
        if not path.exists():
            started = time.perf_counter()
            write_cog(path, args.size)
            print(f"wrote {path.name}: {path.stat().st_size / 2**20:.1f} MiB "
                  f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        reference = rasterio_default(path)
        for name, fn in CONTENDERS.items():  # warm-up (page cache, pools) and a check
            assert np.array_equal(fn(path), reference), f"{name} read different pixels"
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        for _ in range(args.runs):
            for name, fn in CONTENDERS.items():
                started = time.perf_counter()
                fn(path)
                times[name].append(time.perf_counter() - started)

    raw_mib = reference.nbytes / 2**20
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nfull-image decode, {args.size}x{args.size}x4 uint16 ({raw_mib:.0f} MiB decoded), "
          f"{args.runs} runs, {os.cpu_count()} cores")  # fmt: skip
    base = medians["rasterio (default)"]
    for name, median in medians.items():
        spread = f"{min(times[name]) * 1000:.0f}-{max(times[name]) * 1000:.0f} ms"
        print(
            f"  {name:38s} median {median * 1000:7.1f} ms  ({spread})  "
            f"{raw_mib / median:7.1f} MiB/s  x{base / median:.2f} vs rasterio default"
        )
    ratio = base / medians["rasteret.tiff"]
    threads = medians["rasterio (GDAL_NUM_THREADS=ALL_CPUS)"] / medians["rasteret.tiff"]
    print(f"\nrasteret.tiff is {ratio:.2f}x faster than rasterio default (target >= 1.5) and "
          f"{threads:.2f}x vs GDAL_NUM_THREADS=ALL_CPUS")  # fmt: skip


if __name__ == "__main__":
    main()
