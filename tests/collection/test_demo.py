"""``examples/demo_collections.py`` (run by ``make demo``) keeps working."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import rasteret

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo_collections.py"


def test_demo_collections_runs(tmp_path: Path, capsys):
    spec = importlib.util.spec_from_file_location("demo_collections", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.run(tmp_path)
    out = capsys.readouterr().out
    assert len(built) == 4 and built.bands == ["B02", "B03", "B04", "B08"]
    assert "16 files (16 parsed" in out
    assert len(rasteret.load("local/demo-scenes")) == 3
