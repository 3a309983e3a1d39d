"""Turn many byte ranges of one object into few requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MergedRange:
    """One request covering several wanted ranges.

    start, end: bytes of the request (end exclusive).
    members: indices into the input list of the ranges it covers.
    """

    start: int
    end: int
    members: tuple[int, ...]


def coalesce_ranges(
    ranges: Sequence[tuple[int, int]], *, gap: int, max_size: int = 32 * 1024 * 1024
) -> list[MergedRange]:
    """Merge ``(start, end)`` ranges whose gap is at most ``gap`` bytes.

    A merged request never grows beyond ``max_size`` unless one range alone is larger.
    Duplicate and overlapping ranges share one request. Zero-length ranges are ignored.
    """
    order = sorted(
        (r for r in range(len(ranges)) if ranges[r][1] > ranges[r][0]), key=lambda i: ranges[i]
    )
    merged: list[MergedRange] = []
    cur_start = cur_end = -1
    members: list[int] = []
    for i in order:
        start, end = ranges[i]
        if members and start <= cur_end + gap and max(end, cur_end) - cur_start <= max_size:
            cur_end = max(cur_end, end)
            members.append(i)
            continue
        if members:
            merged.append(MergedRange(cur_start, cur_end, tuple(members)))
        cur_start, cur_end, members = start, end, [i]
    if members:
        merged.append(MergedRange(cur_start, cur_end, tuple(members)))
    return merged
