"""The registry snippets of the seed document (dataset-registry.md), run as written.

Each test body between the ``# --- seed ---`` markers is copied verbatim from the document (only
indentation restored). The ``DatasetDescriptor(...)`` snippets that tests/collection builds from
too are written once, in :mod:`tests.catalog.seed_doc`, and called here with the document's own
addresses. Parts calling ``rasteret.build`` / ``create_backend`` belong to the collections and
cloud issues and stop before them. State the document assumes (a saved local
descriptor, a received JSON file) is set up before the snippet.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import rasteret
from rasteret import DatasetDescriptor, DatasetRegistry
from rasteret.catalog import load_local_descriptors, save_local_descriptor
from tests.catalog import seed_doc


def test_quick_start_register_a_stac_dataset() -> None:
    # --- seed ---
    import rasteret

    descriptor = seed_doc.field_survey()
    # Register it
    rasteret.register(descriptor)
    # --- end seed ---
    assert DatasetRegistry.get("acme/field-survey-2024") is descriptor
    assert descriptor.require_access_method() == "stac"
    assert rasteret.BandRegistry.get("acme/field-survey-2024") == {
        "R": "red",
        "G": "green",
        "B": "blue",
        "NIR": "nir",
    }


def test_descriptor_field_snippets_construct() -> None:
    # --- seed --- Identity
    identity = DatasetDescriptor(
        id="my-org/my-dataset",  # Namespaced ID
        name="My Dataset",  # Human-readable name
        description="Brief description",  # One-liner
    )
    # --- seed --- Access: STAC API
    stac = DatasetDescriptor(
        id="my-org/sentinel-3",
        stac_api="https://stac.example.com/v1",
        stac_collection="sentinel-3-olci",
        band_map={
            "B01": "Oa01",
            "B02": "Oa02",
            # ... more bands
        },
    )
    # --- seed --- Access: GeoParquet
    geoparquet = seed_doc.custom_index()
    # --- seed --- Coverage & Licensing
    licensing = DatasetDescriptor(
        id="my-org/dataset",
        spatial_coverage="global",  # "global", "regional", "local", etc.
        temporal_range=("2020-01-01", "2024-12-31"),
        license="CC-BY-4.0",  # SPDX identifier or "proprietary"
        license_url="https://creativecommons.org/licenses/by/4.0/",
        commercial_use=True,  # False for licenses like CC-BY-NC
    )
    # --- seed --- Authentication
    auth = DatasetDescriptor(
        id="my-org/private-data",
        requires_auth=True,
        s3_credentials_url="https://example.com/api/credentials",
        cloud_config={
            "provider": "aws",
            "requester_pays": True,
            "region": "us-west-2",
            "url_patterns": {
                "https://cdn.example.com/": "s3://my-bucket/",
            },
        },
    )
    # --- seed --- Advanced: Multi-Band COGs
    multiband = seed_doc.naip_custom()
    # --- seed --- Best Practices: Documentation
    documented = DatasetDescriptor(
        id="my-org/dataset",
        name="My Dataset",
        description="Brief description (visible in CLI and docs)",
        license="CC-BY-4.0",
        license_url="https://creativecommons.org/licenses/by/4.0/",
    )
    # --- seed --- Best Practices: Example Queries
    examples = DatasetDescriptor(
        id="my-org/dataset",
        example_bbox=(11.3, 48.1, 11.5, 48.3),
        example_date_range=("2024-06-01", "2024-06-30"),
    )
    # --- end seed ---
    assert identity.name == "My Dataset"
    assert stac.access_method == "stac" and stac.name == "my-org/sentinel-3"
    assert geoparquet.access_method == "record_table"
    assert geoparquet.build_source_uri == "s3://my-bucket/index.parquet"
    assert licensing.access_method is None and licensing.commercial_use is True
    assert auth.cloud_config is not None and auth.cloud_config["requester_pays"] is True
    assert multiband.band_index_map == {"R": 0, "G": 1, "B": 2, "NIR": 3}
    assert documented.license == "CC-BY-4.0"
    assert examples.example_bbox == (11.3, 48.1, 11.5, 48.3)


def test_private_stac_api_descriptor() -> None:
    # --- seed ---
    import rasteret

    descriptor = seed_doc.internal_imagery()
    # Register it
    rasteret.register(descriptor)
    # --- end seed ---
    assert DatasetRegistry.get("mycompany/internal-imagery") is descriptor
    assert descriptor.temporal_range == ("2024-01-01", "present")


def test_geoparquet_index_from_source_cooperative() -> None:
    # --- seed ---
    import rasteret

    descriptor = seed_doc.aef_custom()
    rasteret.register(descriptor)
    # --- end seed ---
    assert DatasetRegistry.get("my-org/aef-custom") is descriptor
    assert descriptor.source_field("datetime") == "year"
    config = rasteret.CloudConfig.get_config("my-org/aef-custom")
    assert config is not None
    assert config.rewrite("s3://us-west-2.opendata.source.coop/a.tif") == (
        "https://data.source.coop/a.tif"
    )


def test_managing_the_registry(capsys: pytest.CaptureFixture[str], registry_file: Path) -> None:
    # State the document assumes: "local/my-collection" was registered and persisted.
    local = DatasetDescriptor(
        id="local/my-collection",
        collection_uri="/data/collections/my_local_collection",
        spatial_coverage="local",
    )
    save_local_descriptor(local)
    rasteret.register(local)

    # --- seed --- List All Datasets
    from rasteret import DatasetRegistry

    for desc in DatasetRegistry.list():
        print(f"{desc.id}: {desc.name}")
    # --- seed --- Search Datasets
    # Search by keyword (case-insensitive)
    results = DatasetRegistry.search("sentinel")
    for desc in results:
        print(f"{desc.id}: {desc.name}")
    # --- seed --- Get a Descriptor
    desc = DatasetRegistry.get("earthsearch/sentinel-2-l2a")
    if desc:
        print(f"Name: {desc.name}")
        print(f"STAC API: {desc.stac_api}")
        print(f"Bands: {list(desc.band_map.keys())}")
    # --- seed --- Unregister a Dataset
    # Unregister from in-memory registry
    DatasetRegistry.unregister("my-org/my-dataset")

    # Unregister from local persistent registry
    from rasteret.catalog import unregister_local_descriptor

    unregister_local_descriptor("local/my-collection")
    # --- end seed ---
    out = capsys.readouterr().out.splitlines()
    assert "aef/v1-annual: AlphaEarth Foundations Embeddings (annual)" in out
    assert "local/my-collection: local/my-collection" in out
    assert out.count("pc/sentinel-2-l2a: Sentinel-2 Level-2A (Planetary Computer)") == 2
    assert "STAC API: https://earth-search.aws.element84.com/v1" in out
    assert out[-1].startswith("Bands: ['B01', 'B02', 'B03', 'B04'")
    assert DatasetRegistry.get("local/my-collection") is None
    assert load_local_descriptors() == []


def test_sharing_descriptors_export_and_import(
    capsys: pytest.CaptureFixture[str],
    registry_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    saved = rasteret.DatasetDescriptor(
        id="local/my-collection",
        name="my-local-collection",
        description="My analysis-ready collection",
        collection_uri=str(tmp_path / "collections" / "my_local_collection"),
        band_map={"B04": "red", "B08": "nir"},
        spatial_coverage="local",
        temporal_range=("2024-01-01", "2024-06-30"),
    )
    save_local_descriptor(saved)

    # --- seed --- Export to JSON
    from pathlib import Path

    from rasteret.catalog import export_local_descriptor

    export_path = export_local_descriptor(
        dataset_id="local/my-collection",
        output_path=Path("./shared/my_collection_descriptor.json"),
    )
    print(f"Exported to {export_path}")
    # --- end seed ---

    # A teammate receives the file in their working folder.
    shutil.copy(export_path, tmp_path / "my_collection_descriptor.json")
    assert DatasetRegistry.get("local/my-collection") is None

    # --- seed --- Import from JSON
    import json

    from rasteret import DatasetDescriptor

    with open("my_collection_descriptor.json") as f:
        data = json.load(f)
    descriptor = DatasetDescriptor(**data)
    rasteret.register(descriptor)
    # --- end seed ---
    assert capsys.readouterr().out.strip() == "Exported to shared/my_collection_descriptor.json"
    assert descriptor == saved
    assert DatasetRegistry.get("local/my-collection") == saved
    assert json.loads((tmp_path / "shared" / "my_collection_descriptor.json").read_text()) == (
        saved.to_dict()
    )
