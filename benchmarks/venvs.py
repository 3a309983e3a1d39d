"""Virtual environments of contenders that cannot live in this project's venv, under ``.bench/``.

- the reference implementation (``rasteret==0.4.1``, Python >= 3.12): its import name is also
  ``rasteret``. Created on the first run (~1 minute) and reused.
- TorchGeo (torch + torchvision + torchgeo, ~6 GB): only with ``--setup-torchgeo``, or when the
  ``torchgeo`` extra is installed in this venv.
"""

from __future__ import annotations

import glob
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.config import BENCH_DIR

REFERENCE_REQUIREMENT = "rasteret==0.4.1"
VENV = BENCH_DIR / "venv-reference"
TORCHGEO_VENV = BENCH_DIR / "venv-torchgeo"
# CPU use of the CUDA builds on the local wheel index (the CPU-only torch 2.13 wheel breaks
# torchvision's operators); versions checked on this machine.
TORCHGEO_PINS = ("torch==2.14.1", "torchvision==0.29.1")
CANDIDATES = (
    "/root/.pyenv/versions/3.12.*/bin/python3.12",
    "/root/.pyenv/versions/3.13.*/bin/python3.13",
    "/usr/bin/python3.12",
    "/usr/bin/python3.13",
)


def find_python() -> str | None:
    """A Python >= 3.12 interpreter on this machine, or None."""
    for pattern in CANDIDATES:
        for path in sorted(glob.glob(pattern)):
            return path
    for name in ("python3.12", "python3.13"):
        found = shutil.which(name)
        if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
            return found
    return None


def _installed(python: Path) -> bool:
    probe = "import importlib.metadata as m; print(m.version('rasteret'))"
    res = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    return res.returncode == 0 and res.stdout.strip() == REFERENCE_REQUIREMENT.split("==")[1]


def ensure_reference_venv(log=print) -> tuple[str | None, str | None]:
    """(python path, None) when the reference is ready, else (None, reason it is skipped)."""
    python = VENV / "bin" / "python"
    if python.exists() and _installed(python):
        return str(python), None
    base = find_python()
    if base is None:
        return None, "no Python >= 3.12 on this machine (the reference requires it)"
    log(f"creating the reference venv {VENV} with {base} (one time, ~1 minute)")
    shutil.rmtree(VENV, ignore_errors=True)
    steps = (
        [base, "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "-q", "-U", "pip"],
        [str(python), "-m", "pip", "install", "-q", REFERENCE_REQUIREMENT],
    )
    failure = _run_steps(steps)
    if failure:
        return None, f"installing {REFERENCE_REQUIREMENT} failed: {failure}"
    return str(python), None


def _run_steps(steps) -> str | None:
    """Run commands in order; the tail of the first failure's output, or None."""
    for argv in steps:
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode != 0:
            return " | ".join((res.stdout + res.stderr).strip().splitlines()[-3:])
    return None


def torchgeo_python() -> str:
    """This venv's Python when it has torchgeo, else the TorchGeo venv's when it exists.

    Falls back to this venv's Python, where the contender then reports itself skipped.
    """
    if importlib.util.find_spec("torchgeo") is not None:
        return sys.executable
    python = TORCHGEO_VENV / "bin" / "python"
    return str(python) if python.exists() else sys.executable


def setup_torchgeo_venv(log=print) -> str | None:
    """Create the TorchGeo venv (a few minutes, ~6 GB); None on success, else why it failed."""
    python = TORCHGEO_VENV / "bin" / "python"
    if python.exists():
        return None
    log(f"creating the TorchGeo venv {TORCHGEO_VENV} (one time, a few minutes, ~6 GB)")
    constraints = BENCH_DIR / "torchgeo-constraints.txt"
    constraints.write_text("\n".join(TORCHGEO_PINS) + "\n")
    tmp = TORCHGEO_VENV.with_name(TORCHGEO_VENV.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q"]
    failure = _run_steps(
        (
            [sys.executable, "-m", "venv", str(tmp)],
            [*pip, "-U", "pip"],
            [*pip, *TORCHGEO_PINS],
            [*pip, "-c", str(constraints), "torchgeo", "requests"],
        )
    )
    if failure:
        shutil.rmtree(tmp, ignore_errors=True)
        return failure
    tmp.rename(TORCHGEO_VENV)
    return None
