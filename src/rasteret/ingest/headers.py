"""The header pass: parse every distinct file of a build once, concurrently, through one Backend.

Files shared by several bands or records are parsed once; a ``header_cache`` mapping carries
parsed headers across chunks of a build (and across builds when the caller passes one).
Failures are collected per URL with their reason, never dropped; the caller decides whether
they are fatal (``strict=True``) or reported.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from rasteret._options import get_options
from rasteret.errors import RasteretError
from rasteret.io.backend import Backend
from rasteret.tiff.header import read_header
from rasteret.tiff.model import TiffHeader

HeaderReader = Callable[[str, Backend], Awaitable[TiffHeader]]


# The first request of each header: GDAL's COG layout puts every IFD and tile table first, and
# those of typical COGs (Sentinel-2, Landsat, NAIP sizes, 256-1024 px tiles, overviews) take
# under 32 KiB; larger headers grow the prefix with more requests.
HEADER_PREFIX = 32 * 1024

# Header requests in flight in a build (the reference's default is 50). Measured behind a 20 ms
# latency proxy, 200 headers: 64 in flight 0.19 s, 50 0.21 s (one more round trip), 200 0.24 s
# (every new connection costs a TLS handshake, on both sides).
HEADER_CONCURRENCY = 64


async def read_tiff_header(url: str, backend: Backend) -> TiffHeader:
    """Parse one file's header with the TIFF layer (one request for a typical COG)."""
    return await read_header(url, backend=backend, prefix_size=HEADER_PREFIX)


def show_progress(progress: bool | None) -> bool:
    """Progress bars only when asked (or enabled in options) and stderr is a terminal."""
    wanted = get_options().progress if progress is None else progress
    return bool(wanted) and sys.stderr.isatty()


@dataclass
class HeaderPass:
    """Result of parsing a set of files: headers by URL, failure reasons by URL, counters."""

    headers: dict[str, TiffHeader] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    parsed: int = 0
    cached: int = 0
    requests: int = 0
    seconds: float = 0.0


async def read_headers(
    urls: Iterable[str],
    *,
    backend: Backend,
    max_concurrent: int = HEADER_CONCURRENCY,
    cache: MutableMapping[str, TiffHeader] | None = None,
    reader: HeaderReader | None = None,
    progress_bar: Any | None = None,
) -> HeaderPass:
    """Parse each distinct URL once with at most ``max_concurrent`` files in flight."""
    reader = reader or read_tiff_header
    result = HeaderPass()
    started = time.perf_counter()
    todo: list[str] = []
    for url in dict.fromkeys(urls):
        hit = cache.get(url) if cache is not None else None
        if hit is not None:
            result.headers[url] = hit
            result.cached += 1
        else:
            todo.append(url)
    if progress_bar is not None and result.cached:
        progress_bar.update(result.cached)
    pending = iter(todo)

    async def worker() -> None:
        for url in pending:
            try:
                header = await reader(url, backend)
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except RasteretError as exc:
                result.failures[url] = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported per asset, never raised raw
                result.failures[url] = f"{type(exc).__name__}: {exc}"
            else:
                result.headers[url] = header
                result.parsed += 1
                result.requests += header.header_requests
                if cache is not None:
                    cache[url] = header
            if progress_bar is not None:
                progress_bar.update(1)

    workers = max(1, min(int(max_concurrent), len(todo)))
    if todo:
        await asyncio.gather(*(worker() for _ in range(workers)))
    result.seconds = time.perf_counter() - started
    return result
