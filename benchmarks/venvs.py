"""The reference implementation's own virtual environment (``rasteret==0.4.1``, Python >= 3.12).

Created once under ``.bench/venv-reference`` and reused; its import name is also ``rasteret``,
which is why it cannot share this project's venv.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

from benchmarks.config import BENCH_DIR

REFERENCE_REQUIREMENT = "rasteret==0.4.1"
VENV = BENCH_DIR / "venv-reference"
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
    for argv in steps:
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode != 0:
            tail = (res.stdout + res.stderr).strip().splitlines()[-3:]
            return None, f"installing {REFERENCE_REQUIREMENT} failed: {' | '.join(tail)}"
    return str(python), None
