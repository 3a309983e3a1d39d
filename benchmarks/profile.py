"""Profiles of contender runs with py-spy (``--profile rasteret``): where the time goes.

A profiled run is an extra run after the measured ones (py-spy slows the process down, so it is
never timed). The raw collapsed stacks are kept under ``.bench/profiles/``; the summary lists
the functions that were on CPU most (self time) and the rasteret functions with the most
inclusive time, over busy samples of the timed work (no imports, no idle worker threads, no
output hashing).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

SITE = re.compile(r"\((?:/[^()]*?/site-packages/|/[^()]*?/src/)")
# Frames where a thread waits rather than works, and frames outside the timed workload.
IDLE = re.compile(
    r"^(_worker \(concurrent/futures/thread\.py|EpollSelector\.select|Condition\.wait|Event\.wait)"
)
UNTIMED = ("_find_and_load", "Digest.finish", "preload (")


def py_spy() -> str | None:
    """The py-spy executable (this venv's first), or None when it is not installed."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def wrapper(output: Path, rate: int = 200) -> list[str] | None:
    """Command prefix that records a child under py-spy into ``output`` (raw collapsed stacks)."""
    exe = py_spy()
    if exe is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    return [exe, "record", "--rate", str(rate), "--format", "raw", "-o", str(output), "--"]


def summarize(raw: Path, top: int = 12) -> dict[str, list[tuple[float, str]]]:
    """Self-time and inclusive-time shares (of busy samples) per function."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or any(u in stack for u in UNTIMED):
            continue
        n = int(count)
        frames = [SITE.sub("(", f) for f in stack.split(";")]
        if IDLE.match(frames[-1]):
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            if "(rasteret/" in f:
                inclusive[f] += n
    if not total:
        return {"self": [], "inclusive": []}
    return {
        "self": [(round(n / total, 3), f) for f, n in own.most_common(top)],
        "inclusive": [(round(n / total, 3), f) for f, n in inclusive.most_common(top)],
    }
