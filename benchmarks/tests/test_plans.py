"""Workload plans: deterministic, inside the scenes, pixel-aligned, points on pixel centres."""

import numpy as np
from pyproj import Transformer

from benchmarks import plans
from benchmarks.config import PIXEL_M, Layout

LAYOUT = Layout.for_scale(1.0)
BASE = "https://127.0.0.1:1"


def _inside_and_aligned(bounds, tile):
    minx, miny, maxx, maxy = bounds
    side = tile["side"] * PIXEL_M
    assert tile["x0"] <= minx < maxx <= tile["x0"] + side
    assert tile["y0"] - side <= miny < maxy <= tile["y0"]
    for v, origin in (
        (minx, tile["x0"]),
        (maxx, tile["x0"]),
        (miny, tile["y0"]),
        (maxy, tile["y0"]),
    ):
        assert ((v - origin) / PIXEL_M).is_integer()


def test_plans_are_deterministic():
    assert plans.w2_plan(LAYOUT, BASE) == plans.w2_plan(LAYOUT, BASE)
    assert plans.w3_plan(LAYOUT, BASE) == plans.w3_plan(LAYOUT, BASE)
    assert plans.w4_plan(LAYOUT, BASE) == plans.w4_plan(LAYOUT, BASE)


def test_w2_aois():
    plan = plans.w2_plan(LAYOUT, BASE)
    assert len(plan["aois"]) == 5 and plan["bands"] == ["B04", "B08"]
    for aoi in plan["aois"]:
        _inside_and_aligned(aoi["bounds"], aoi["tile"])
        assert len(aoi["scenes"]) == 24
        assert all(s["hrefs"]["B04"].startswith(BASE + "/bench/s2/") for s in aoi["scenes"])
    assert {a["tile"]["epsg"] for a in plan["aois"]} == {32632, 32633}


def test_w3_points_sit_on_pixel_centres():
    plan = plans.w3_plan(LAYOUT, BASE)
    assert len(plan["points_lonlat"]) == 1000
    seen = []
    for group in plan["groups"]:
        tile = group["tile"]
        lonlat = np.array([plan["points_lonlat"][i] for i in group["point_indices"]])
        to_utm = Transformer.from_crs(4326, tile["epsg"], always_xy=True)
        x, y = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
        cols = (x - tile["x0"]) / PIXEL_M
        rows = (tile["y0"] - y) / PIXEL_M
        np.testing.assert_allclose(cols % 1, 0.5, atol=1e-6)
        np.testing.assert_allclose(rows % 1, 0.5, atol=1e-6)
        np.testing.assert_array_equal(np.floor(cols), [p[0] for p in group["pixels"]])
        seen += group["point_indices"]
    assert sorted(seen) == list(range(1000))


def test_w4_chips():
    plan = plans.w4_plan(LAYOUT, BASE)
    assert len(plan["chips"]) == 64 and len(plan["scenes"]) == 8 and len(plan["bands"]) == 4
    for chip in plan["chips"]:
        _inside_and_aligned(chip["bounds"], plan["tile"])
        assert chip["bounds"][2] - chip["bounds"][0] == 256 * PIXEL_M
