"""DatasetDescriptor: partial construction, JSON round trips, access methods and column roles."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rasteret import DatasetDescriptor, DatasetRegistry
from rasteret.catalog.builtin import builtin_descriptors
from rasteret.errors import DescriptorError
from tests.catalog import seed_doc

BUILTIN_IDS = [d.id for d in builtin_descriptors()]


def test_partial_descriptors_construct_and_name_defaults_to_id() -> None:
    identity = DatasetDescriptor(id="my-org/my-dataset", description="Brief description")
    assert identity.name == "my-org/my-dataset"
    licence = DatasetDescriptor(id="my-org/dataset", license="CC-BY-4.0", commercial_use=False)
    assert licence.name == "my-org/dataset"
    assert licence.access_method is None and licence.access_methods == ()
    assert DatasetDescriptor(id="org/x", name="Named").name == "Named"


def test_descriptor_is_frozen_and_hashable() -> None:
    d = DatasetDescriptor(id="org/x", band_map={"R": "red"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "other"  # type: ignore[misc]
    assert {d: 1}[DatasetDescriptor(id="org/x", band_map={"R": "red"})] == 1


def test_input_mappings_are_copied() -> None:
    bands = {"R": "red"}
    d = DatasetDescriptor(id="org/x", band_map=bands)
    bands["G"] = "green"
    assert d.band_map == {"R": "red"}


@pytest.mark.parametrize("dataset_id", BUILTIN_IDS)
def test_every_builtin_round_trips_through_json(dataset_id: str, tmp_path: Path) -> None:
    original = DatasetRegistry.get(dataset_id)
    assert original is not None
    path = tmp_path / "d.json"
    path.write_text(json.dumps(original.to_dict()))
    with open(path) as f:
        again = DatasetDescriptor(**json.load(f))
    assert again == original
    assert again.to_dict() == original.to_dict()
    assert DatasetDescriptor.from_dict(json.loads(path.read_text())) == original


def test_to_dict_is_plain_json_and_lists_every_field() -> None:
    d = DatasetRegistry.get("aef/v1-annual")
    assert d is not None
    data = d.to_dict()
    assert list(data) == list(DatasetDescriptor.field_names())
    assert data["example_bbox"] == [11.3, -0.002, 11.5, 0.001]
    assert data["temporal_range"] == ["2017-01-01", "2024-12-31"]
    assert json.loads(json.dumps(data)) == data


def test_replace_validates_again() -> None:
    d = DatasetDescriptor(id="org/x", temporal_range=("2020-01-01", "2021-01-01"))
    assert d.replace(name="New").name == "New"
    with pytest.raises(DescriptorError, match="temporal_range"):
        d.replace(temporal_range=("2022-01-01", "2021-01-01"))


# --- access methods -------------------------------------------------------------------------


def test_access_methods_and_preference() -> None:
    stac = DatasetDescriptor(
        id="o/stac", stac_api="https://stac.example.com/v1", stac_collection="c"
    )
    table = DatasetDescriptor(id="o/table", geoparquet_uri="s3://b/index.parquet")
    built = DatasetDescriptor(
        id="o/local", collection_uri="/data/col", stac_api="https://s/v1", stac_collection="c"
    )
    static = DatasetDescriptor(id="o/static", stac_api="/data/catalog.json", static_catalog=True)
    assert stac.access_method == "stac"
    assert table.access_method == "record_table"
    assert built.access_methods == ("collection", "stac")
    assert static.access_method == "stac"
    assert table.require_access_method() == "record_table"


def test_missing_access_method_is_reported_when_building() -> None:
    partial = DatasetDescriptor(id="my-org/dataset", license="CC-BY-4.0")
    with pytest.raises(DescriptorError) as info:
        partial.require_access_method()
    message = str(info.value)
    for hint in ("my-org/dataset", "stac_api", "record_table_uri", "collection_uri"):
        assert hint in message
    no_collection = DatasetDescriptor(id="o/x", stac_api="https://stac.example.com/v1")
    with pytest.raises(DescriptorError, match="stac_collection is missing"):
        no_collection.require_access_method()


def test_uri_properties_follow_priority() -> None:
    d = DatasetDescriptor(id="o/x", record_table_uri="rt", index_uri="ix", geoparquet_uri="gp")
    assert (d.build_source_uri, d.runtime_index_uri) == ("rt", "ix")
    only_gp = DatasetDescriptor(id="o/y", geoparquet_uri="gp")
    assert (only_gp.build_source_uri, only_gp.runtime_index_uri) == ("gp", "gp")
    only_index = DatasetDescriptor(id="o/z", index_uri="ix")
    assert only_index.build_source_uri == "ix"


# --- columns --------------------------------------------------------------------------------


def test_source_fields_from_roles_column_map_and_href() -> None:
    aef = DatasetRegistry.get("aef/v1-annual")
    assert aef is not None
    assert aef.source_field("id") == "fid"
    assert aef.source_field("href") == "path"
    assert aef.source_field("assets") == "assets"
    assert aef.effective_column_map == {
        "fid": "id",
        "geom": "geometry",
        "year": "datetime",
        "crs": "proj:epsg",
    }
    seed = seed_doc.custom_index()
    assert seed.source_field("datetime") == "timestamp"
    assert seed.source_field("href") == "cog_url"
    assert seed.effective_column_map == {"fid": "id", "geom": "geometry", "timestamp": "datetime"}


def test_surface_hints() -> None:
    aef = DatasetRegistry.get("aef/v1-annual")
    assert aef is not None
    assert aef.surface_has_field("index", "utm_zone")
    assert not aef.surface_has_field("record_table", "utm_zone")
    assert aef.surface_supports_filter("collection", "year")
    plain = DatasetDescriptor(
        id="o/x",
        href_column="url",
        bbox_columns={"minx": "w", "miny": "s", "maxx": "e", "maxy": "n"},
    )
    assert plain.surface_has_field("record_table", "href")
    assert not plain.surface_has_field("collection", "href")
    assert plain.surface_supports_filter("record_table", "bbox")
    assert not plain.surface_supports_filter("index", "utm_zone")
    with pytest.raises(DescriptorError, match="unknown surface"):
        plain.surface_has_field("warehouse", "id")
