"""The reference implementation, ``rasteret==0.4.1`` from PyPI, run from its own venv.

Its import name is also ``rasteret``, so it lives in ``.bench/venv-reference`` (Python 3.12) and
this module is only ever imported there.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.contenders import rasteret_api as api
from benchmarks.digest import Digest


def _header_rows(col, bands: list[str]) -> list[tuple]:
    columns = ["assets", "proj:epsg", *(f"{b}_metadata" for b in bands)]
    table = col.to_table(columns=columns).to_pylist()
    rows = []
    for rec in table:
        for b in bands:
            m = rec[f"{b}_metadata"]
            rows.append(
                (
                    api.object_key(rec["assets"][b]["href"]),
                    m["image_width"],
                    m["image_height"],
                    m["tile_width"],
                    m["tile_height"],
                    m["dtype"],
                    rec["proj:epsg"],
                )
            )
    return rows


def _w1(plan: dict, scratch: Path) -> Digest:
    return api.w1(plan, scratch, _header_rows)


prepare = api.prepare
WORKLOADS = {"W1": _w1, "W2": api.w2, "W3": api.w3, "W4": api.w4, "W5": api.w5}


def skip_reason(workload: str) -> str | None:
    return None
