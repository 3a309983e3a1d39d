"""TorchGeo's ``RasterDataset`` for the chip workload (W4), when ``torchgeo`` is installed.

One dataset per band over the scenes' URLs (GDAL ``/vsicurl/``, default settings as TorchGeo
uses them), read with ``time_series=True`` and a query per chip, as a sampler would issue it.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.digest import Digest

try:
    import torchgeo  # noqa: F401

    _MISSING = None
except ImportError as e:
    _MISSING = f"torchgeo is not installed ({e.name}); install the torchgeo extra to run it"


def skip_reason(workload: str) -> str | None:
    if _MISSING:
        return _MISSING
    if workload != "W4":
        return "TorchGeo has no equivalent of this workload (chips only)"
    return None


def _w4(plan: dict, scratch: Path) -> Digest:
    raise NotImplementedError(
        "the TorchGeo contender needs a TorchGeo install to be written against"
    )


WORKLOADS = {"W4": _w4}
