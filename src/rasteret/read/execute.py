"""Run a plan through the shared block engine and name the records that failed.

The whole plan goes to one ``fetch_blocks`` call. If it fails, the plan is replayed record by
record (a few at a time) to learn which records are broken; those are reported and the others
are read. A file replaced since the collection was built is never read: ``ObjectChangedError``
always propagates.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from rasteret._options import get_options
from rasteret.errors import ObjectChangedError, RasteretError
from rasteret.read.plan import Plan
from rasteret.tiff.engine import fetch_blocks

_ISOLATION_PARALLELISM = 8


@dataclass
class RunResult:
    """What a run fetched and which owners (records) failed, with their errors."""

    requests: int = 0
    bytes: int = 0
    blocks: int = 0
    failures: dict[Hashable, BaseException] = field(default_factory=dict)

    def add(self, stats: Any) -> None:
        if stats is None:
            return
        self.requests += int(getattr(stats, "requests", 0) or 0)
        self.bytes += int(getattr(stats, "bytes", 0) or 0)
        self.blocks += int(getattr(stats, "blocks", 0) or 0)


@dataclass(frozen=True)
class FetchSettings:
    """How the engine runs: backend, requests in flight, coalescing gap, progress bar."""

    backend: Any = None
    max_concurrent: int | None = None
    coalesce_gap: int | None = None
    progress: bool | None = None

    def kwargs(self, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "max_concurrent": self.max_concurrent,
            "coalesce_gap": self.coalesce_gap,
            "progress": progress,
        }

    def wants_bar(self) -> bool:
        """A bar only when asked (or by default) and stderr is a terminal."""
        wanted = get_options().progress if self.progress is None else self.progress
        return bool(wanted) and sys.stderr.isatty()


async def run_plan(plan: Plan, settings: FetchSettings) -> RunResult:
    """Fetch and decode every block of ``plan`` into its targets."""
    result = RunResult()
    if not len(plan):
        return result
    items = plan.items()
    bar = _bar(len(items)) if settings.wants_bar() else None
    try:
        result.add(await fetch_blocks(items, **settings.kwargs(bar.update if bar else None)))
        return result
    except ObjectChangedError:
        raise
    except RasteretError:
        pass
    finally:
        if bar is not None:
            bar.close()
    # Replay record by record, a few at a time, sharing the request budget between them.
    budget = settings.max_concurrent or get_options().max_concurrent_requests
    share = FetchSettings(
        settings.backend,
        max(1, budget // _ISOLATION_PARALLELISM),
        settings.coalesce_gap,
        False,
    )
    gate = asyncio.Semaphore(_ISOLATION_PARALLELISM)

    async def one(owner: Hashable) -> None:
        async with gate:
            try:
                result.add(await fetch_blocks(plan.items([owner]), **share.kwargs()))
            except ObjectChangedError:
                raise
            except RasteretError as exc:
                result.failures[owner] = exc

    await asyncio.gather(*(one(owner) for owner in plan.owners()))
    return result


def _bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="block", desc="rasteret read", leave=False)
