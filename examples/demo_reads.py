"""Reading pixels from a collection, as shown by ``make demo``.

``run(collection, workdir)`` picks an AOI inside the collection, reads its time series into
xarray, samples a few points into an Arrow table and writes a PNG quicklook of the AOI, printing
what each step does. It needs nothing but the collection (headers included): no header request.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import shapely


def step(title: str) -> None:
    print(f"\n== {title}")


def pick_aoi(collection: Any, limit: int = 50) -> shapely.Polygon:
    """A small box where the most footprints overlap, so the time series has several dates."""
    table = collection.to_table(columns=["geometry"]).slice(0, limit)
    feet = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    candidates = list(feet) + [
        a.intersection(b) for i, a in enumerate(feet) for b in feet[i + 1 :] if a.intersects(b)
    ]
    best, best_count = feet[0], 0
    for shape in candidates:
        if shape.is_empty or shape.area == 0:
            continue
        point = shape.representative_point()
        count = int(shapely.contains_xy(feet, point.x, point.y).sum())
        if count > best_count:
            best, best_count = shape, count
    minx, miny, maxx, maxy = best.bounds
    if best_count == 1 and len(feet) > 1:
        # No overlap: a strip from the first footprint into the second (two dates, maybe two
        # CRSs, one grid).
        a, b = feet[0].centroid, feet[1].centroid
        dy = (maxy - miny) / 8
        return shapely.box(min(a.x, b.x), a.y - dy, max(a.x, b.x), a.y + dy)
    centre = best.representative_point()
    dx, dy = (maxx - minx) / 8, (maxy - miny) / 8
    return shapely.box(centre.x - dx, centre.y - dy, centre.x + dx, centre.y + dy)


def time_series(collection: Any, aoi: shapely.Polygon, bands: list[str]) -> Any:
    from rasteret.read import get_xarray

    step(f"AOI time series into xarray: get_xarray(collection, aoi, {bands})")
    start = time.perf_counter()
    ds = get_xarray(collection, aoi, bands, progress=False)
    took = time.perf_counter() - start
    print(f"  {dict(ds.sizes)} in {took * 1000:.0f} ms, CRS {ds.attrs.get('crs')}")
    for band in bands:
        means = (
            ds[band]
            .where(ds[band] != ds[band].attrs.get("_FillValue", np.nan))
            .mean(dim=("y", "x"))
        )
        for t, value in zip(ds["time"].values, means.values, strict=True):
            print(f"  {str(t)[:19]}  mean {band} = {float(value):.1f}")
    return ds


def points(collection: Any, aoi: shapely.Polygon, bands: list[str]) -> Any:
    import pyarrow as pa

    from rasteret.read import sample_points

    step("Point values into Arrow: sample_points(collection, table, bands)")
    minx, miny, maxx, maxy = aoi.bounds
    xs = np.linspace(minx, maxx, 5)[1:4]
    ys = np.linspace(miny, maxy, 5)[1:4]
    table = pa.table({"lon": xs, "lat": ys, "site": ["north", "centre", "south"]})
    samples = sample_points(collection, table, bands, geometry_crs=4326, progress=False)
    print(f"  {samples.num_rows} rows, columns {samples.column_names}")
    for row in samples.slice(0, 6).to_pylist():
        print(
            f"  {row['site']:<7} {row['record_id']:<14} {row['band']:<5} value {row['value']:.0f}"
        )
    return samples


def quicklook(ds: Any, band: str, path: Path) -> Path:
    """The first time step of ``band`` stretched to 2-98 % and saved as an 8-bit PNG."""
    import rasterio

    step(f"PNG quicklook of the AOI: {path.name}")
    data = ds[band].isel(time=0).values.astype("float64")
    fill = ds[band].attrs.get("_FillValue")
    valid = np.isfinite(data) if fill is None else (data != fill) & np.isfinite(data)
    lo, hi = np.percentile(data[valid], (2, 98)) if valid.any() else (0.0, 1.0)
    scaled = np.clip((data - lo) / max(hi - lo, 1e-9) * 254 + 1, 1, 255)
    image = np.where(valid, scaled, 0).astype("uint8")
    profile = dict(driver="PNG", width=image.shape[1], height=image.shape[0], count=1)
    with warnings.catch_warnings():  # a PNG has no georeferencing, and needs none here
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", dtype="uint8", **profile) as dst:
            dst.write(image, 1)
    print(f"  wrote {path} ({image.shape[1]} x {image.shape[0]} px)")
    return path


def run(collection: Any, workdir: Path) -> dict[str, Any]:
    """Run the three read steps on ``collection``; files go to ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bands = list(collection.bands)[:2]
    aoi = pick_aoi(collection)
    ds = time_series(collection, aoi, bands)
    samples = points(collection, aoi, bands)
    png = quicklook(ds, bands[0], workdir / "quicklook.png")
    return {"aoi": aoi, "dataset": ds, "points": samples, "png": png}
