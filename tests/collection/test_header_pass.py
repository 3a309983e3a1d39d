"""The header pass: bounded concurrency, one parse per file, a header cache across builds,
progress bars only on terminals, and tables without dates."""

from __future__ import annotations

import asyncio
import sys

import pyarrow as pa
import shapely
from tests.collection.conftest import COLLECTION, NGINX_DIR

import rasteret
import rasteret.ingest.headers as headers_mod
from rasteret.ingest.headers import read_headers, show_progress
from rasteret.io import default_backend, run_sync


def test_concurrency_is_bounded_and_each_file_parsed_once(served, nginx_server):
    urls = [served.url(rel) for s in served.scenes for rel in s.files.values()]
    in_flight = {"now": 0, "max": 0}
    seen: list[str] = []

    async def counting(url, backend):
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        seen.append(url)
        try:
            await asyncio.sleep(0.01)
            return await headers_mod.read_tiff_header(url, backend)
        finally:
            in_flight["now"] -= 1

    mark = nginx_server.mark()
    result = run_sync(
        read_headers(urls + urls[:5], backend=default_backend(), max_concurrent=3, reader=counting)
    )
    assert in_flight["max"] == 3
    assert sorted(seen) == sorted(urls)
    assert result.parsed == len(urls) and not result.failures
    gets = [r for r in nginx_server.requests(since=mark) if NGINX_DIR in r["path"]]
    assert len(gets) == result.requests == len(urls)


def test_header_cache_spans_builds(stac_api, nginx_server):
    cache: dict = {}
    kwargs = dict(
        stac_api=stac_api,
        collection=COLLECTION,
        band_map={"R": "red"},
        bbox=(11.5, 44.5, 12.5, 45.5),
        date_range=("2024-01-01", "2024-12-31"),
        header_cache=cache,
    )
    first = rasteret.build_from_stac(name="cache-a", **kwargs)
    assert first.build_report.parsed == len(first) and len(cache) == len(first)
    mark = nginx_server.mark()
    second = rasteret.build_from_stac(name="cache-b", **kwargs)
    assert second.build_report.cached == len(second) and second.build_report.parsed == 0
    assert not [r for r in nginx_server.requests(since=mark) if NGINX_DIR in r["path"]]


def test_progress_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert show_progress(True) is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert show_progress(True) is True and show_progress(False) is False
    from rasteret import options

    with options(progress=False):
        assert show_progress(None) is False
    with options(progress=True):
        assert show_progress(None) is True


def test_table_without_dates_or_footprints(served, workspace):
    table = pa.table(
        {
            "id": [s.id for s in served.scenes],
            "url": [served.url(s.files["B04"]) for s in served.scenes],
        }
    )
    coll = rasteret.build_from_table(table, name="nodates", href_column="url", band_codes=["B04"])
    again = rasteret.load(workspace / "nodates_records")
    assert len(again) == len(served.scenes) and again.bands == ["B04"]
    assert again.to_table(columns=["datetime"]).column(0).null_count == len(served.scenes)
    by_id = {s.id: s.footprint for s in served.scenes}
    for r in coll.iter_records(["B04"]):
        assert (
            shapely.from_wkb(r.geometry).hausdorff_distance(by_id[r.record_id]) < 1e-5
        )  # densified edges
