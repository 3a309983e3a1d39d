"""This project's rasteret, through its public API (the same calls as the reference)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.contenders import rasteret_api as api
from benchmarks.digest import Digest


def _epsg(crs: str | None) -> int | None:
    if crs and crs.upper().startswith("EPSG:"):
        return int(crs.split(":", 1)[1])
    from pyproj import CRS

    return CRS.from_user_input(crs).to_epsg() if crs else None


def _header_rows(col, bands: list[str]) -> list[tuple]:
    columns = ["assets", *(f"{b}_metadata" for b in bands)]
    rows = []
    for rec in col.to_table(columns=columns).to_pylist():
        for b in bands:
            m = rec[f"{b}_metadata"]
            image = m["images"][0]
            rows.append(
                (
                    api.object_key(rec["assets"][b]["href"]),
                    m["width"],
                    m["height"],
                    image["block_width"],
                    image["block_height"],
                    m["dtype"],
                    _epsg(m["crs"]),
                )
            )
    return rows


def _w1(plan: dict, scratch: Path) -> Digest:
    return api.w1(plan, scratch, _header_rows)


prepare = api.prepare
WORKLOADS = {"W1": _w1, "W2": api.w2, "W3": api.w3, "W4": api.w4, "W5": api.w5}


def skip_reason(workload: str) -> str | None:
    return None
