"""The lower bound decodes exactly the pixels GDAL reads (so it times the real work)."""

import numpy as np
import rasterio

from benchmarks.config import Tile
from benchmarks.data import SceneSynth, write_cog
from benchmarks.lower_bound import _decode_all, _tiles, decode_lower_bound


def test_decoded_tiles_match_gdal(tmp_path, monkeypatch):
    tile = Tile("T", 32631, 600_000.0, 5_800_000.0, 0)
    synth = SceneSynth("T", 1024)
    single, multi = tmp_path / "s.tif", tmp_path / "m.tif"
    write_cog(single, synth.band(0, "B02"), tile)
    write_cog(multi, np.stack([synth.band(0, b) for b in ("B02", "B03", "B04")]), tile)
    decoded = []
    monkeypatch.setattr("benchmarks.lower_bound.np.empty", _recording(decoded))
    _decode_all([_tiles(str(single)), _tiles(str(multi))])
    with rasterio.open(single) as a, rasterio.open(multi) as b:
        expect_single = a.read(1, window=((0, 512), (0, 512)))
        expect_multi = b.read(window=((0, 512), (0, 512)))
    np.testing.assert_array_equal(decoded[0], expect_single)  # first tile of the single-band COG
    np.testing.assert_array_equal(np.moveaxis(decoded[4], -1, 0), expect_multi)
    result = decode_lower_bound([str(single), str(multi)], repeats=1)
    assert result["tiles"] == 8 and 0 < result["lower_bound_s"] <= result["single_thread_decode_s"]


def _recording(out):
    real = np.empty

    def empty(*args, **kwargs):
        arr = real(*args, **kwargs)
        out.append(arr)
        return arr

    return empty
