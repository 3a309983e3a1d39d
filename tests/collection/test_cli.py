"""``rasteret collections ...``, ``rasteret build`` and the local-dataset ``datasets`` actions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.collection.conftest import COLLECTION

import rasteret
from rasteret.cli import main

Capture = pytest.CaptureFixture[str]
BBOX = "11.5,44.5,12.5,45.5"
DATES = "2024-01-01,2024-12-31"


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_collections_build_list_info_delete(capsys: Capture, stac_api, served, workspace: Path):
    code, out, err = run(
        capsys,
        "collections",
        "build",
        "cli-one",
        "--stac-api",
        stac_api,
        "--collection",
        COLLECTION,
        "--bbox",
        BBOX,
        "--date-range",
        DATES,
        "--band-map",
        '{"R": "red", "N": "nir"}',
        "--query",
        '{"eo:cloud_cover": {"lt": 100}}',
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["records"] == len(served.scenes) and summary["bands"] == ["R", "N"]
    assert Path(summary["path"]) == workspace / "cli-one_stac"

    code, out, _ = run(capsys, "collections", "list", "--json")
    listed = json.loads(out)
    assert [c["name"] for c in listed] == ["cli-one"]
    assert listed[0]["size"] == len(served.scenes) and listed[0]["kind"] == "stac"
    code, out, _ = run(capsys, "collections", "list")
    assert "cli-one" in out and "NAME" in out

    code, out, _ = run(capsys, "collections", "info", "cli-one", "--json")
    info = json.loads(out)
    assert info["records"] == len(served.scenes) and "R_metadata" in info["columns"]
    assert info["split_column"] is False
    code, out, _ = run(capsys, "collections", "info", "cli-one")
    assert code == 0 and "records" in out and "split column" in out

    code, _, err = run(capsys, "collections", "info", "nothing-here")
    assert code == 1 and "nothing-here" in err and "cli-one_stac" in err

    code, out, _ = run(capsys, "collections", "delete", "cli-one", "--yes")
    assert code == 0 and not (workspace / "cli-one_stac").exists()


def test_collections_import_record_table(capsys: Capture, served, tmp_path: Path, workspace):
    table = pa.table(
        {
            "fid": [s.id for s in served.scenes],
            "when": [s.datetime for s in served.scenes],
            "geom": [s.footprint.wkb for s in served.scenes],
            "url": [served.url(s.files["image"]) for s in served.scenes],
        }
    )
    pq.write_table(table, tmp_path / "index.parquet")
    code, out, err = run(
        capsys,
        "collections",
        "import",
        "imported",
        "--record-table",
        str(tmp_path / "index.parquet"),
        "--column-map",
        '{"fid": "id", "when": "datetime", "geom": "geometry"}',
        "--href-column",
        "url",
        "--band-index-map",
        '{"R": 2, "NIR": 3}',
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["records"] == len(served.scenes) and summary["bands"] == ["R", "NIR"]
    assert Path(summary["path"]) == workspace / "imported_records"
    code, _, err = run(
        capsys,
        "collections",
        "import",
        "bad",
        "--record-table",
        str(tmp_path / "index.parquet"),
        "--href-column",
        "nope",
    )
    assert code == 1 and "nope" in err


def test_build_and_local_dataset_actions(capsys: Capture, stac_api, served, tmp_path: Path):
    rasteret.register(
        rasteret.DatasetDescriptor(
            id="test/cli-synth",
            stac_api=stac_api,
            stac_collection=COLLECTION,
            band_map={"B": "blue"},
        )
    )
    code, out, err = run(
        capsys,
        "build",
        "test/cli-synth",
        "clibuild",
        "--bbox",
        BBOX,
        "--date-range",
        DATES,
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["bands"] == ["B"]
    code, out, err = run(
        capsys,
        "datasets",
        "build",
        "test/cli-synth",
        "clibuild2",
        "--bbox",
        BBOX,
        "--date-range",
        DATES,
    )
    assert code == 0 and "clibuild2" in out

    code, _, err = run(capsys, "build", "test/cli-synth", "nobox")
    assert code == 1 and "bbox" in err
    code, _, err = run(capsys, "build", "test/nope", "x", "--bbox", BBOX, "--date-range", DATES)
    assert code == 1 and "test/nope" in err
    code, _, err = run(capsys, "build", "test/cli-synth", "x", "--bbox", "1,2,3")
    assert code == 2 and "minx,miny,maxx,maxy" in err

    registry = tmp_path / "reg.json"
    code, out, err = run(
        capsys,
        "datasets",
        "register-local",
        "local/cli",
        "clibuild",
        "--registry-path",
        str(registry),
        "--description",
        "from the CLI",
        "--json",
    )
    assert code == 0, err
    descriptor = json.loads(out)
    assert descriptor["id"] == "local/cli" and descriptor["spatial_coverage"] == "local"
    assert [e["id"] for e in json.loads(registry.read_text())] == ["local/cli"]
    assert len(rasteret.load("local/cli")) == len(served.scenes)

    out_file = tmp_path / "shared" / "cli.json"
    code, out, err = run(
        capsys,
        "datasets",
        "export-local",
        "local/cli",
        str(out_file),
        "--registry-path",
        str(registry),
    )
    assert code == 0, err
    assert json.loads(out_file.read_text())["collection_uri"] == descriptor["collection_uri"]

    code, out, err = run(
        capsys, "datasets", "unregister-local", "local/cli", "--registry-path", str(registry)
    )
    assert code == 0, err
    assert json.loads(registry.read_text()) == []
