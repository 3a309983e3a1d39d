"""The generator writes COGs laid out like Sentinel-2's, with realistic compression."""

import numpy as np
import rasterio
import tifffile

from benchmarks.config import BLOCK, Layout, Tile
from benchmarks.data import SceneSynth, fractal_noise, s2_items, write_cog


def test_fractal_noise_is_normalised_and_smooth():
    field = fractal_noise(256, 3.0, seed=1)
    assert field.dtype == np.float32
    assert abs(float(field.mean())) < 1e-4 and abs(float(field.std()) - 1) < 1e-3
    # 1/f^3: neighbours are strongly correlated (white noise would give ~0)
    assert np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1] > 0.95
    assert not np.array_equal(field, fractal_noise(256, 3.0, seed=2))


def test_cog_layout_and_compression(tmp_path):
    tile = Tile("T", 32632, 400_000.0, 5_000_000.0, 0)
    synth = SceneSynth("T", 1024)
    band = synth.band(3, "B04")
    path = tmp_path / "b.tif"
    write_cog(path, band, tile)
    with rasterio.open(path) as src:
        assert src.block_shapes == [(BLOCK, BLOCK)]
        assert src.compression.name == "deflate"
        assert src.overviews(1) == [2]
        assert src.crs.to_epsg() == 32632 and src.transform.c == 400_000.0
        np.testing.assert_array_equal(src.read(1), band)
    page = tifffile.TiffFile(path).pages[0]
    assert page.predictor == 2 and page.is_tiled
    ratio = band.nbytes / sum(page.databytecounts)
    assert 1.3 < ratio < 2.2, ratio  # real Sentinel-2 L2A bands: ~1.5x with DEFLATE + predictor
    assert band.min() >= 1  # never the nodata value


def test_dates_and_bands_differ():
    synth = SceneSynth("T", 256)
    assert not np.array_equal(synth.band(0, "B04"), synth.band(1, "B04"))
    assert not np.array_equal(synth.band(0, "B04"), synth.band(0, "B08"))
    np.testing.assert_array_equal(synth.band(2, "B02"), SceneSynth("T", 256).band(2, "B02"))


def test_items_cover_every_scene_with_lonlat_footprints():
    layout = Layout.for_scale(1.0)
    items = s2_items(layout)
    assert len(items) == 3 * 24 and len({it["id"] for it in items}) == len(items)
    for it in items:
        west, south, east, north = it["bbox"]
        assert -180 < west < east < 180 and -90 < south < north < 90
        assert set(it["assets"]) == {"B02", "B03", "B04", "B08"}
    # tiles of one zone never overlap in lon/lat, so a bbox filter picks one tile's scenes
    boxes = {it["id"].split("_")[1]: it["bbox"] for it in items}
    a, b = boxes["32TMR"], boxes["32TNR"]
    assert a[2] < b[0]
