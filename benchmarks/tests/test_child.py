"""A contender run in a fresh process: result file, digest, and agreement between readers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.config import BANDS, REPO, Tile
from benchmarks.data import SceneSynth, write_cog


@pytest.fixture(scope="module")
def w5_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("w5")
    tile = Tile("T", 32631, 600_000.0, 5_800_000.0, 0)
    synth = SceneSynth("T", 1024)
    paths = {}
    for b in BANDS:
        paths[b] = str(d / f"{b}.tif")
        write_cog(d / f"{b}.tif", synth.band(1, b), tile)
    write_cog(d / "multi.tif", np.stack([synth.band(1, b) for b in BANDS]), tile)
    plan = {
        "workload": "W5",
        "bands": list(BANDS),
        "tile": {"epsg": 32631, "x0": tile.x0, "y0": tile.y0, "side": 1024},
        "bounds": [tile.x0, tile.y0 - 10240.0, tile.x0 + 10240.0, tile.y0],
        "single": {"id": "s", "paths": paths},
        "multiband": {"id": "m", "path": str(d / "multi.tif")},
    }
    path = d / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _run(contender, workload, plan, tmp_path):
    out = tmp_path / f"{contender}.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.child", contender, workload, str(plan), str(out)],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    return json.loads(out.read_text())


def test_readers_agree_on_w5(w5_plan, tmp_path):
    pytest.importorskip("async_geotiff", reason="the bench extra is not installed")
    a = _run("rasterio_sequential", "W5", w5_plan, tmp_path)
    b = _run("async_geotiff", "W5", w5_plan, tmp_path)
    assert a["parts"] == b["parts"] == 8
    assert a["digest"] == b["digest"]
    assert a["seconds"] > 0 and a["peak_rss_mb"] > 0
    parts = (tmp_path / "rasterio_sequential.parts").read_text().splitlines()
    assert parts[0].startswith("multiband/B02|uint16|1024x1024|")


def test_a_failure_is_reported_not_raised(w5_plan, tmp_path):
    plan = json.loads(w5_plan.read_text())
    plan["multiband"]["path"] = str(tmp_path / "missing.tif")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan))
    result = _run("rasterio_sequential", "W5", bad, tmp_path)
    assert "missing.tif" in result["error"] and "digest" not in result


def test_a_contender_without_the_workload_is_skipped(w5_plan, tmp_path):
    result = _run("torchgeo", "W5", w5_plan, tmp_path)  # not installed here, or W4 only
    assert result["skipped"] and "digest" not in result
