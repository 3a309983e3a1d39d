"""Entry point of one contender run, always in a fresh process.

``python -m benchmarks.child CONTENDER WORKLOAD PLAN RESULT [SCRATCH]``. The contender module
(and so its libraries) is imported before the clock starts; only the workload itself is timed.
The result file gets seconds, the output digest, peak RSS and bytes read, or ``skipped`` /
``error``. Standard library only besides what the contender imports.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

from benchmarks.contenders import MODULES


def _rchar() -> int | None:
    """Bytes this process has read through read() syscalls so far (local-file workloads)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _write(path: Path, result: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


def run(contender: str, workload: str, plan_path: Path, result_path: Path, scratch: Path) -> None:
    try:
        module = importlib.import_module(MODULES[contender])
    except ImportError as e:
        _write(result_path, {"skipped": f"cannot import {contender}'s libraries: {e}"})
        return
    plan = json.loads(plan_path.read_text())
    reason = module.skip_reason(workload)
    if not reason and workload != "prepare" and workload not in module.WORKLOADS:
        reason = f"{contender} has no equivalent of {workload}"
    if reason:
        _write(result_path, {"skipped": reason})
        return
    try:
        if workload == "prepare":
            _write(result_path, {"prepared": module.prepare(plan)})
            return
        fn = module.WORKLOADS[workload]
        read0 = _rchar()
        t0 = time.perf_counter()
        digest = fn(plan, scratch)
        seconds = time.perf_counter() - t0
        read1 = _rchar()
    except Exception as e:  # reported per row, the suite carries on with the other contenders
        tb = traceback.format_exc(limit=12)
        _write(result_path, {"error": f"{type(e).__name__}: {e}"[:2000], "traceback": tb})
        return
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parts = digest.finish()
    result_path.with_suffix(".parts").write_text("\n".join(parts))
    _write(
        result_path,
        {
            "seconds": seconds,
            "digest": digest.hexdigest(parts),
            "parts": len(parts),
            "peak_rss_mb": peak_rss_mb,
            "read_bytes": (read1 - read0) if read0 is not None and read1 is not None else None,
        },
    )


def main(argv: list[str]) -> None:
    contender, workload, plan, result = argv[:4]
    scratch = Path(argv[4]) if len(argv) > 4 else Path(result).parent
    run(contender, workload, Path(plan), Path(result), scratch)


if __name__ == "__main__":
    main(sys.argv[1:])
