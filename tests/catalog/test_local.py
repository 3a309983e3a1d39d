"""The persistent local registry: location, save/load, unregister, export/import, corruption, locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rasteret
from rasteret import DatasetDescriptor, DatasetRegistry
from rasteret.catalog import (
    export_local_descriptor,
    import_descriptor,
    load_local_descriptors,
    local_registry_path,
    save_local_descriptor,
    unregister_local_descriptor,
)
from rasteret.catalog.local import install_local_descriptors
from rasteret.errors import DatasetNotFoundError, DescriptorError, RegistryError

LOCAL = DatasetDescriptor(
    id="local/my-collection",
    name="My collection",
    collection_uri="/data/my_collection",
    band_map={"B04": "red"},
    spatial_coverage="local",
    temporal_range=("2024-01-01", "2024-01-31"),
)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASTERET_")}
    env.update(extra)
    return env


# --- location -----------------------------------------------------------------------------------


def test_location_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RASTERET_LOCAL_DATASETS_PATH")
    monkeypatch.delenv("RASTERET_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert local_registry_path() == tmp_path / "user" / ".rasteret" / "datasets.local.json"
    monkeypatch.setenv("RASTERET_HOME", str(tmp_path / "rh"))
    assert local_registry_path() == tmp_path / "rh" / "datasets.local.json"
    monkeypatch.setenv("RASTERET_LOCAL_DATASETS_PATH", str(tmp_path / "x.json"))
    assert local_registry_path() == tmp_path / "x.json"
    assert local_registry_path(tmp_path / "given.json") == tmp_path / "given.json"


# --- save / load ----------------------------------------------------------------------------------


def test_save_then_load_and_upsert(registry_file: Path) -> None:
    assert load_local_descriptors() == []
    assert save_local_descriptor(LOCAL) == registry_file
    other = DatasetDescriptor(id="acme/a", license="CC-BY-4.0")
    save_local_descriptor(other)
    renamed = LOCAL.replace(name="Renamed")
    save_local_descriptor(renamed)
    assert load_local_descriptors() == [other, renamed]
    on_disk = json.loads(registry_file.read_text())
    assert [e["id"] for e in on_disk] == ["acme/a", "local/my-collection"]
    assert on_disk[1] == renamed.to_dict()
    assert DatasetRegistry.get("acme/a") is None  # saving does not register
    leftovers = [p.name for p in registry_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_save_refuses_non_descriptor() -> None:
    with pytest.raises(DescriptorError):
        save_local_descriptor({"id": "acme/a"})  # type: ignore[arg-type]


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RegistryError, match="file"):
        save_local_descriptor(LOCAL, blocker / "sub" / "datasets.local.json")


def test_local_entries_load_at_import_after_builtins(tmp_path: Path) -> None:
    registry = tmp_path / "reg.json"
    shadow = {"id": "pc/alos-dem", "name": "My ALOS", "band_map": {"DEM": "dem"}}
    registry.write_text(json.dumps([LOCAL.to_dict(), shadow]))
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "from rasteret import DatasetRegistry as R, BandRegistry as B\n"
        "print(R.get('local/my-collection').name, '|', R.get('pc/alos-dem').name, '|',"
        " B.get('pc/alos-dem'), '|', len(R.list()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=child_env(RASTERET_LOCAL_DATASETS_PATH=str(registry)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "My collection | My ALOS | {'DEM': 'dem'} | 13"
    assert "pc/alos-dem" in result.stderr and "shadows the built-in" in result.stderr


def test_rasteret_home_is_used_by_a_fresh_process(tmp_path: Path) -> None:
    (tmp_path / "datasets.local.json").write_text(json.dumps([LOCAL.to_dict()]))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import rasteret; print(rasteret.DatasetRegistry.get('local/my-collection').name)",
        ],
        env=child_env(RASTERET_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "My collection"


# --- corrupt files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'[{"id": "local/a", ', "not valid JSON"),
        (b'{"id": "local/a"}', "JSON list"),
        (b"\xff\xfe[]", "UTF-8"),
    ],
)
def test_unreadable_file_is_ignored_with_a_warning(
    registry_file: Path, content: bytes, fragment: str
) -> None:
    registry_file.parent.mkdir(parents=True)
    registry_file.write_bytes(content)
    with pytest.warns(UserWarning, match=fragment) as caught:
        assert load_local_descriptors() == []
    assert str(registry_file) in str(caught[0].message)


def test_empty_file_is_an_empty_registry(registry_file: Path) -> None:
    registry_file.parent.mkdir(parents=True)
    registry_file.write_text("  \n")
    assert load_local_descriptors() == []


BAD_ENTRIES = [
    LOCAL.to_dict(),
    42,
    {"id": "bad id"},
    {"id": "local/dates", "temporal_range": ["2024-02-01", "2024-01-01"]},
    {"id": "local/extra", "colour": "red"},
    {"name": "no id"},
    {"id": "local/ok", "license": "CC-BY-4.0"},
]


def test_bad_entries_are_skipped_with_warnings_naming_file_and_entry(registry_file: Path) -> None:
    registry_file.parent.mkdir(parents=True)
    registry_file.write_text(json.dumps(BAD_ENTRIES))
    with pytest.warns(UserWarning) as caught:
        found = load_local_descriptors()
    assert [d.id for d in found] == ["local/my-collection", "local/ok"]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 5
    assert all(str(registry_file) in m for m in messages)
    assert "entry 2" in messages[0] and "number" in messages[0]
    assert "entry 3" in messages[1] and "'bad id'" in messages[1]
    assert "'local/dates'" in messages[2] and "temporal_range" in messages[2]
    assert "'local/extra'" in messages[3] and "colour" in messages[3]
    assert "entry 6" in messages[4] and "'id' is required" in messages[4]


def test_corrupt_file_never_breaks_import(tmp_path: Path) -> None:
    for name, content in [("broken.json", "[{not json"), ("bad.json", json.dumps(BAD_ENTRIES))]:
        path = tmp_path / name
        path.write_text(content)
        result = subprocess.run(
            [sys.executable, "-c", "import rasteret; print(len(rasteret.DatasetRegistry.list()))"],
            env=child_env(RASTERET_LOCAL_DATASETS_PATH=str(path)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert str(path) in result.stderr
        expected = 12 if name == "broken.json" else 14
        assert result.stdout.strip() == str(expected)


def test_saving_over_bad_entries_keeps_them_untouched(registry_file: Path) -> None:
    registry_file.parent.mkdir(parents=True)
    registry_file.write_text(json.dumps(BAD_ENTRIES))
    save_local_descriptor(DatasetDescriptor(id="acme/new"))
    on_disk = json.loads(registry_file.read_text())
    assert len(on_disk) == len(BAD_ENTRIES) + 1
    for entry in BAD_ENTRIES:
        assert entry in on_disk
    assert {"id": "acme/new"}.items() <= on_disk[0].items()


def test_saving_over_an_invalid_json_file_keeps_a_copy(registry_file: Path) -> None:
    registry_file.parent.mkdir(parents=True)
    registry_file.write_text("[{oops")
    with pytest.warns(UserWarning, match="corrupt"):
        save_local_descriptor(LOCAL)
    assert load_local_descriptors() == [LOCAL]
    copies = list(registry_file.parent.glob("datasets.local.json.corrupt-*"))
    assert len(copies) == 1 and copies[0].read_text() == "[{oops"


# --- unregister -----------------------------------------------------------------------------------


def test_unregister_removes_file_entry_and_memory(registry_file: Path) -> None:
    save_local_descriptor(LOCAL)
    rasteret.register(LOCAL)
    assert unregister_local_descriptor("local/my-collection") == LOCAL
    assert load_local_descriptors() == []
    assert DatasetRegistry.get("local/my-collection") is None
    with pytest.raises(DatasetNotFoundError, match="not in the local registry"):
        unregister_local_descriptor("local/my-collection")


def test_unregister_suggests_close_ids(registry_file: Path) -> None:
    save_local_descriptor(LOCAL)
    with pytest.raises(DatasetNotFoundError, match="'local/my-collection'"):
        unregister_local_descriptor("local/my-colection")


def test_unregister_builtin_is_refused_but_shadow_removal_restores_it(registry_file: Path) -> None:
    with pytest.raises(RegistryError, match="built-in"):
        unregister_local_descriptor("earthsearch/naip")
    builtin = DatasetRegistry.get("earthsearch/naip")
    shadow = DatasetDescriptor(id="earthsearch/naip", name="my naip")
    save_local_descriptor(shadow)
    with pytest.warns(UserWarning, match="shadows"):
        install_local_descriptors()
    assert DatasetRegistry.get("earthsearch/naip") == shadow
    assert unregister_local_descriptor("earthsearch/naip") == shadow
    assert DatasetRegistry.get("earthsearch/naip") is builtin


def test_unregister_removes_an_invalid_entry(registry_file: Path) -> None:
    registry_file.parent.mkdir(parents=True)
    registry_file.write_text(json.dumps([{"id": "local/dates", "temporal_range": ["b", "a"]}]))
    assert unregister_local_descriptor("local/dates") is None
    assert json.loads(registry_file.read_text()) == []


# --- export / import ------------------------------------------------------------------------------


def test_export_then_import_round_trip(registry_file: Path, tmp_path: Path) -> None:
    save_local_descriptor(LOCAL)
    out = export_local_descriptor("local/my-collection", tmp_path / "shared" / "d.json")
    assert out == tmp_path / "shared" / "d.json"
    data = json.loads(out.read_text())
    assert data == LOCAL.to_dict()
    assert list(data) == sorted(data)
    assert DatasetRegistry.get("local/my-collection") is None
    imported = import_descriptor(out)
    assert imported == LOCAL and DatasetRegistry.get("local/my-collection") == LOCAL
    assert load_local_descriptors() == [LOCAL]


def test_export_falls_back_to_registered_descriptors(tmp_path: Path) -> None:
    out = export_local_descriptor("pc/usda-cdl", tmp_path / "cdl.json")
    with open(out) as f:
        assert DatasetDescriptor(**json.load(f)) == DatasetRegistry.get("pc/usda-cdl")
    with pytest.raises(DatasetNotFoundError, match="did you mean 'pc/usda-cdl'"):
        export_local_descriptor("pc/usda-cd", tmp_path / "x.json")
    with pytest.raises(RegistryError, match="folder"):
        export_local_descriptor("pc/usda-cdl", tmp_path)


def test_import_with_persist_saves_it(registry_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"id": "acme/imported", "band_map": {"R": "red"}}))
    imported = import_descriptor(source, persist=True)
    assert load_local_descriptors() == [imported]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot read"),
        ("", "is empty"),
        ("{nope", "not valid JSON"),
        ('[{"id": "acme/a"}]', "holds a list"),
        ('{"id": "acme/a", "temporal_range": ["2024-02-01", "2024-01-01"]}', "temporal_range"),
        ('{"id": "acme/a", "bands": {}}', "unknown field"),
    ],
)
def test_import_errors_name_the_file(tmp_path: Path, content: str | None, fragment: str) -> None:
    source = tmp_path / "in.json"
    if content is not None:
        source.write_text(content)
    with pytest.raises(DescriptorError) as info:
        import_descriptor(source)
    assert str(source) in str(info.value) and fragment in str(info.value)


# --- concurrency ----------------------------------------------------------------------------------

WRITER = """
import sys, time
from pathlib import Path
from rasteret.catalog import DatasetDescriptor, save_local_descriptor
worker, start = sys.argv[1], Path(sys.argv[2])
Path(f"{start}.ready-{worker}").touch()
while not start.exists():
    time.sleep(0.002)
for i in range(25):
    save_local_descriptor(DatasetDescriptor(id=f"proc{worker}/ds-{i:02d}", name=f"{worker}-{i}"))
"""


def test_eight_processes_saving_25_ids_each_keep_all_200(tmp_path: Path) -> None:
    registry = tmp_path / "shared" / "datasets.local.json"
    start = tmp_path / "start"
    env = child_env(RASTERET_LOCAL_DATASETS_PATH=str(registry))
    workers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(n), str(start)], env=env)
        for n in range(8)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("start.ready-*"))) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        start.touch()
        codes = [w.wait(timeout=120) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert codes == [0] * 8
    ids = [entry["id"] for entry in json.loads(registry.read_text())]
    expected = sorted(f"proc{n}/ds-{i:02d}" for n in range(8) for i in range(25))
    assert ids == expected
    assert len(load_local_descriptors(registry)) == 200


def test_band_map_order_survives_export_and_save(registry_file: Path, tmp_path: Path) -> None:
    s2 = DatasetRegistry.get("earthsearch/sentinel-2-l2a")
    assert s2 is not None
    order = list(s2.band_map or {})
    assert order[-3:] == ["B11", "B12", "SCL"]  # declared order, not sorted (B8A sits after B08)
    path = export_local_descriptor(s2.id, tmp_path / "s2.json")
    assert list(json.loads(path.read_text())["band_map"]) == order
    copy = s2.replace(id="local/s2-copy")
    save_local_descriptor(copy)
    (saved,) = load_local_descriptors()
    assert list(saved.band_map or {}) == order
