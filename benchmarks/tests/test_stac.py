"""Static catalogs render this run's server URL and are readable by pystac."""

import pystac

from benchmarks.config import Layout
from benchmarks.data import s2_items
from benchmarks.stac import render_items, write_catalog


def test_catalog_round_trip(tmp_path):
    items = render_items(s2_items(Layout.for_scale(1.0))[:5], "https://127.0.0.1:9/bench")
    path = write_catalog(tmp_path / "cat", "synthetic-s2", items, "test")
    catalog = pystac.Catalog.from_file(str(path))
    child = catalog.get_child("synthetic-s2")
    got = sorted(child.get_all_items(), key=lambda it: it.id)
    assert [it.id for it in got] == sorted(it["id"] for it in items)
    href = got[0].assets["B04"].href
    assert href.startswith("https://127.0.0.1:9/bench/s2/") and href.endswith("/B04.tif")
    assert got[0].properties["proj:code"] in ("EPSG:32632", "EPSG:32633")


def test_absolute_paths_are_left_alone():
    item = {"assets": {"a": {"href": "/data/x.tif"}, "b": {"href": "k/y.tif"}}}
    out = render_items([item], "https://h:1/bench")[0]
    assert out["assets"]["a"]["href"] == "/data/x.tif"
    assert out["assets"]["b"]["href"] == "https://h:1/bench/k/y.tif"
    assert item["assets"]["b"]["href"] == "k/y.tif"  # the input is not modified
