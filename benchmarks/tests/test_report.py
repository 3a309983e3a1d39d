"""Agreement marking and target verdicts."""

from benchmarks.report import mark_agreement, targets


def test_gdal_is_the_truth_when_it_ran():
    rows = {
        "rasteret": {"digest": "a"},
        "reference": {"digest": "b"},
        "async_geotiff": {"digest": "b"},
        "rasterio": {"digest": "a"},
        "torchgeo": {"skipped": "not installed"},
        "rasterio_sequential": {"error": "boom"},
    }
    mark_agreement(rows)
    assert rows["rasteret"]["ok"] and rows["rasterio"]["ok"]
    assert rows["reference"]["ok"] is False and rows["async_geotiff"]["ok"] is False
    assert rows["rasterio_sequential"]["ok"] is False and "ok" not in rows["torchgeo"]


def test_majority_when_gdal_did_not_run():
    rows = {"rasteret": {"digest": "a"}, "reference": {"digest": "b"}, "x": {"digest": "b"}}
    mark_agreement(rows)
    assert [rows[k]["ok"] for k in ("rasteret", "reference", "x")] == [False, True, True]


def test_unstable_digest_is_never_ok():
    rows = {"rasterio": {"digest": "unstable"}, "rasteret": {"digest": "unstable"}}
    mark_agreement(rows)
    assert not rows["rasteret"]["ok"]


def test_target_verdicts():
    doc = {
        "workloads": {
            "W1": {"rasteret": {"median_s": 1.0}, "reference": {"median_s": 6.0}},
            "W2": {"rasteret": {"median_s": 1.0}, "reference": {"median_s": 1.5}},
            "W5": {"rasteret": {"median_s": 1.2}, "lower_bound_s": 1.0},
        }
    }
    lines = "\n".join(targets(doc))
    assert "| W1 | 5x faster than reference | 6.00x | met |" in lines
    assert "| W2 | 2x faster than reference | 1.50x | missed (75% of target) |" in lines
    assert "| W2 | 3x faster than rasterio | not measured | - |" in lines
    assert "| W5 | within 1.3x of the decode lower bound | 1.20x | met |" in lines
