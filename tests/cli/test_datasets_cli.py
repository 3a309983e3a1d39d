"""`rasteret datasets ...` and `rasteret --version`: output, JSON and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rasteret import DatasetDescriptor, DatasetRegistry
from rasteret._version import version
from rasteret.catalog import load_local_descriptors, save_local_descriptor
from rasteret.cli import main

Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def descriptor_file(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "descriptor.json"
    path.write_text(json.dumps({"id": "acme/survey", "name": "ACME survey", **fields}))
    return path


def test_version(capsys: Capture) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"rasteret {version()}")


def test_no_command_prints_help(capsys: Capture) -> None:
    code, out, _ = run(capsys)
    assert code == 0 and "datasets" in out and "usage: rasteret" in out
    code, out, _ = run(capsys, "datasets")
    assert code == 0 and "unregister" in out


def test_usage_errors_exit_2(capsys: Capture) -> None:
    code, _, err = run(capsys, "datasets", "frobnicate")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "datasets", "info")
    assert code == 2 and "ID" in err


def test_list_table_and_json(capsys: Capture) -> None:
    code, out, _ = run(capsys, "datasets", "list")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["ID", "NAME", "COVERAGE", "LICENSE", "AUTH", "ORIGIN"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert len(rows) == len(DatasetRegistry.list()) >= 12
    assert rows["earthsearch/landsat-c2-l2"].split()[-2:] == ["yes", "built-in"]
    code, out, _ = run(capsys, "datasets", "list", "--json")
    listed = json.loads(out)
    assert code == 0
    assert [DatasetDescriptor(**d) for d in listed] == DatasetRegistry.list()


def test_list_search(capsys: Capture) -> None:
    code, out, _ = run(capsys, "datasets", "list", "--search", "DEM", "--json")
    assert code == 0
    assert {d["id"] for d in json.loads(out)} == {
        "earthsearch/cop-dem-glo-30",
        "earthsearch/cop-dem-glo-90",
        "pc/alos-dem",
        "pc/nasadem",
    }
    code, out, _ = run(capsys, "datasets", "list", "--search", "nothing-like-this")
    assert code == 0 and "no dataset matches" in out


def test_info_human_and_json(capsys: Capture) -> None:
    code, out, _ = run(capsys, "datasets", "info", "earthsearch/naip")
    assert code == 0
    assert out.splitlines()[0] == "earthsearch/naip"
    assert "R=image[0], G=image[1], B=image[2], NIR=image[3]" in out
    assert "requester pays" in out and "multi-band COG" in out
    code, out, _ = run(capsys, "datasets", "info", "pc/usda-cdl", "--json")
    assert code == 0
    assert DatasetDescriptor(**json.loads(out)) == DatasetRegistry.get("pc/usda-cdl")


def test_unknown_id_exits_1_with_suggestions(capsys: Capture) -> None:
    code, out, err = run(capsys, "datasets", "info", "sentinel-2-l2a")
    assert code == 1 and out == ""
    assert "'earthsearch/sentinel-2-l2a'" in err and "'pc/sentinel-2-l2a'" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "datasets", "export", "aef/v1-anual", "out.json")
    assert code == 1 and "'aef/v1-annual'" in err


def test_register_export_unregister_cycle(
    capsys: Capture, tmp_path: Path, registry_file: Path
) -> None:
    source = descriptor_file(tmp_path, band_map={"R": "red"}, license="CC-BY-4.0")
    code, out, _ = run(capsys, "datasets", "register", str(source))
    assert code == 0 and "acme/survey" in out and str(registry_file) in out
    assert [d.id for d in load_local_descriptors()] == ["acme/survey"]

    target = tmp_path / "out" / "survey.json"
    code, out, _ = run(capsys, "datasets", "export", "acme/survey", str(target))
    assert code == 0 and str(target) in out
    assert json.loads(target.read_text())["band_map"] == {"R": "red"}

    code, out, _ = run(capsys, "datasets", "unregister", "acme/survey")
    assert code == 0 and "acme/survey" in out
    assert load_local_descriptors() == []
    code, _, err = run(capsys, "datasets", "unregister", "acme/survey")
    assert code == 1 and "not in the local registry" in err


def test_register_invalid_file_exits_1_naming_the_problem(capsys: Capture, tmp_path: Path) -> None:
    source = descriptor_file(tmp_path, example_bbox=[10, 50, 9, 51])
    code, _, err = run(capsys, "datasets", "register", str(source))
    assert code == 1
    assert str(source) in err and "example_bbox" in err and "ordered" in err
    code, _, err = run(capsys, "datasets", "register", str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read" in err
    assert load_local_descriptors() == []


def test_unregister_builtin_exits_1_and_says_why(capsys: Capture) -> None:
    code, _, err = run(capsys, "datasets", "unregister", "earthsearch/sentinel-2-l2a")
    assert code == 1 and "built-in" in err and "cannot be unregistered" in err


def test_register_shadowing_builtin_warns_and_unregister_restores(
    capsys: Capture, tmp_path: Path
) -> None:
    source = tmp_path / "naip.json"
    source.write_text(json.dumps({"id": "earthsearch/naip", "name": "Our NAIP mirror"}))
    code, _, err = run(capsys, "datasets", "register", str(source))
    assert code == 0 and err.startswith("warning:") and "earthsearch/naip" in err
    code, out, _ = run(capsys, "datasets", "unregister", "earthsearch/naip")
    assert code == 0 and "built-in descriptor applies again" in out
    assert DatasetRegistry.get("earthsearch/naip") is DatasetRegistry.builtin("earthsearch/naip")


def test_installed_entry_point_in_a_real_process(tmp_path: Path) -> None:
    """One run of the installed `rasteret` script: a bad local file warns, never tracebacks."""
    registry = tmp_path / "datasets.local.json"
    save_local_descriptor(DatasetDescriptor(id="local/field", spatial_coverage="local"), registry)
    entries = json.loads(registry.read_text()) + [{"id": "local/broken", "band_map": {"B1": ""}}]
    registry.write_text(json.dumps(entries))
    script = shutil.which("rasteret", path=os.path.dirname(sys.executable))
    assert script is not None, "the rasteret entry point is not installed in this venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASTERET_")}
    env["RASTERET_LOCAL_DATASETS_PATH"] = str(registry)
    result = subprocess.run(
        [script, "datasets", "list", "--search", "local/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].split()[0] == "local/field"
    assert "warning:" in result.stderr and "local/broken" in result.stderr
    assert "Traceback" not in result.stderr
