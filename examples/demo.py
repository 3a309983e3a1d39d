"""rasteret walk-through, run by ``make demo``; offline, and never touches your ~/.rasteret.

Each step is a small function printing what it does; ``main`` runs them in order inside a
temporary folder that also serves as ``RASTERET_HOME``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def step(title: str) -> None:
    print(f"\n== {title}")


def list_datasets() -> None:
    from rasteret import DatasetRegistry

    step("Built-in datasets: DatasetRegistry.list()")
    for desc in DatasetRegistry.list():
        print(f"  {desc.id:<28} {desc.name}")


def search_datasets(keyword: str = "sentinel") -> None:
    from rasteret import DatasetRegistry

    step(
        f"Search by keyword (id, name, description, band codes): DatasetRegistry.search({keyword!r})"
    )
    for desc in DatasetRegistry.search(keyword):
        bands = ", ".join(list(desc.band_map or {})[:4])
        print(f"  {desc.id:<28} bands {bands}, ...  licence {desc.license}")


def register_from_json(workdir: Path) -> str:
    from rasteret.catalog import import_descriptor, local_registry_path

    step("Register a descriptor from a JSON file (saved in the local registry)")
    source = workdir / "acme-field-survey.json"
    source.write_text(
        json.dumps(
            {
                "id": "acme/field-survey-2024",
                "name": "ACME Field Survey 2024",
                "description": "High-res drone imagery, 10cm, agricultural fields",
                "stac_api": "https://stac.acme.example/v1",
                "stac_collection": "field-survey-2024",
                "band_map": {"R": "red", "G": "green", "B": "blue", "NIR": "nir"},
                "spatial_coverage": "regional",
                "temporal_range": ["2024-01-01", "2024-12-31"],
                "license": "proprietary",
            },
            indent=2,
        )
    )
    print(f"  wrote {source.name}")
    descriptor = import_descriptor(source, persist=True)
    print(f"  registered {descriptor.id!r} (access: {descriptor.access_method})")
    print(f"  persisted in {local_registry_path()}")
    return descriptor.id


def show_validation() -> None:
    from rasteret import DatasetDescriptor
    from rasteret.errors import DescriptorError

    step("Descriptors are validated when constructed")
    try:
        DatasetDescriptor(id="acme/bad-dates", temporal_range=("2024-12-31", "2024-01-01"))
    except DescriptorError as exc:
        print(f"  DescriptorError: {exc}")


def export_descriptor(dataset_id: str, workdir: Path) -> Path:
    from rasteret.catalog import export_local_descriptor

    step("Export it for a teammate: export_local_descriptor(id, path)")
    path = export_local_descriptor(dataset_id, workdir / "shared" / "field_survey.json")
    print(f"  exported to {path.relative_to(workdir)} ({path.stat().st_size} bytes)")
    return path


def import_back(path: Path) -> None:
    import rasteret
    from rasteret import DatasetDescriptor, DatasetRegistry

    step("A teammate imports it: DatasetDescriptor(**json.load(f))")
    original = DatasetRegistry.unregister("acme/field-survey-2024")
    with open(path) as f:
        descriptor = DatasetDescriptor(**json.load(f))
    rasteret.register(descriptor)
    print(f"  imported {descriptor.id!r}; identical to the original: {descriptor == original}")


def cli_info(dataset_id: str) -> None:
    from rasteret.cli import main as cli

    step(f"The same from the shell: rasteret datasets info {dataset_id}")
    cli(["datasets", "info", dataset_id])


def main() -> None:
    import shutil
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import demo_collections
    import demo_reads

    workdir = Path(os.environ.get("RASTERET_DEMO_DIR", ".demo")).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    os.environ["RASTERET_HOME"] = str(workdir / "home")
    os.environ["RASTERET_WORKSPACE"] = str(workdir / "workspace")
    os.environ.pop("RASTERET_LOCAL_DATASETS_PATH", None)
    list_datasets()
    search_datasets()
    dataset_id = register_from_json(workdir)
    show_validation()
    exported = export_descriptor(dataset_id, workdir)
    import_back(exported)
    cli_info(dataset_id)
    collection = demo_collections.run(workdir / "collections")
    demo_reads.run(collection, workdir / "reads")
    print(f"\nDone. Outputs are in {workdir}")


if __name__ == "__main__":
    main()
