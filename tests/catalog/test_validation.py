"""Every DatasetDescriptor validation rule: a clear DescriptorError (a ValueError) naming the field."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from rasteret import CloudConfig, DatasetDescriptor
from rasteret.errors import DescriptorError, RasteretError


def rejects(field: str, *fragments: str, **kwargs: object) -> str:
    """Construct with ``kwargs`` and check the error names ``field`` and each fragment."""
    kwargs.setdefault("id", "org/data")
    with pytest.raises(DescriptorError) as info:
        DatasetDescriptor(**kwargs)
    message = str(info.value)
    assert f"{field}:" in message or f"{field}[" in message
    for fragment in fragments:
        assert fragment in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, RasteretError)
    return message


# --- id -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "plain",
        "a/b/c",
        "/name",
        "org/",
        "org name/x",
        "org/na me",
        "../etc",
        "org/-x",
        "ö/x",
        "",
        3,
    ],
)
def test_id_must_be_namespace_slash_name_of_safe_characters(bad: object) -> None:
    message = rejects("id", "namespace/name", id=bad)
    assert repr(bad) in message


@pytest.mark.parametrize(
    "good", ["org/data", "local/my-collection", "pc/io-lulc-annual-v02", "A1/b_2.v3"]
)
def test_valid_ids(good: str) -> None:
    assert DatasetDescriptor(id=good).id == good


# --- bbox -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "fragment"),
    [
        ((10.0, 5.0, 9.0, 6.0), "ordered"),
        ((10.0, 6.0, 11.0, 5.0), "ordered"),
        ((10.0, 5.0, 10.0, 6.0), "ordered"),
        ((-181.0, 0.0, 1.0, 1.0), "[-180, 180]"),
        ((0.0, 0.0, 181.0, 1.0), "[-180, 180]"),
        ((0.0, -91.0, 1.0, 1.0), "[-90, 90]"),
        ((0.0, 0.0, 1.0, 90.5), "[-90, 90]"),
        ((0.0, 0.0, 1.0), "4 values"),
        ("0,0,1,1", "4 values"),
        ((0.0, 0.0, "1", 1.0), "numbers"),
        ((0.0, 0.0, True, 1.0), "numbers"),
        ((0.0, math.nan, 1.0, 1.0), "finite"),
    ],
)
def test_example_bbox_ordered_and_within_lon_lat_limits(bbox: object, fragment: str) -> None:
    rejects("example_bbox", fragment, example_bbox=bbox)


def test_bbox_accepts_list_and_stores_float_tuple() -> None:
    d = DatasetDescriptor(id="org/data", example_bbox=[-180, -90, 180, 90])
    assert d.example_bbox == (-180.0, -90.0, 180.0, 90.0)
    assert all(type(v) is float for v in d.example_bbox)


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (("2024-13-01", "2024-12-31"), "ISO 8601"),
        (("yesterday", "2024-12-31"), "ISO 8601"),
        (("2024-01-01", "tomorrow"), "'present'"),
        (("present", "2024-12-31"), "ISO 8601"),
        (("2024-02-01", "2024-01-31"), "after end"),
        (("2024-01-01T12:00:00Z", "2023-12-31"), "after end"),
        (("2024-01-01",), "2 values"),
        ("2024-01-01/2024-02-01", "2 values"),
        ((20240101, "2024-02-01"), "ISO 8601 strings"),
    ],
)
def test_temporal_range_iso_dates_start_before_end(value: object, fragment: str) -> None:
    rejects("temporal_range", fragment, temporal_range=value)


def test_example_date_range_is_checked_too() -> None:
    rejects("example_date_range", "after end", example_date_range=("2024-06-30", "2024-06-01"))


@pytest.mark.parametrize(
    "value",
    [
        ("2024-01-01", "present"),
        ("2024-01-01", "Present"),
        ("2021-04-22", "2021-04-22"),
        ("2024-01-01T00:00:00Z", "2024-01-01"),  # a date-only end covers its whole day
        ("2024-01-01T10:00:00+02:00", "2024-01-01T09:00:00+00:00"),
        ["2020-01-01", "2024-12-31"],
    ],
)
def test_valid_date_ranges(value: object) -> None:
    d = DatasetDescriptor(id="org/data", temporal_range=value)
    assert isinstance(d.temporal_range, tuple) and len(d.temporal_range) == 2


def test_present_is_stored_lowercase_and_dates_become_strings() -> None:
    d = DatasetDescriptor(id="org/data", temporal_range=(dt.date(2020, 1, 2), "PRESENT"))
    assert d.temporal_range == ("2020-01-02", "present")


# --- band maps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "band_map",
    [{"B04": ""}, {"": "red"}, {"B04": 4}, {"B04": None}, {"  ": "red"}, {}, ["B04"], "B04"],
)
def test_band_map_entries_are_non_empty_strings(band_map: object) -> None:
    rejects("band_map", band_map=band_map)


@pytest.mark.parametrize(
    "index_map",
    [{"R": -1}, {"R": 1.0}, {"R": "0"}, {"R": True}, {"": 0}, {"R": None}, {}],
)
def test_band_indices_are_non_negative_ints(index_map: object) -> None:
    rejects("band_index_map", band_index_map=index_map)


def test_band_index_codes_must_exist_in_band_map() -> None:
    rejects(
        "band_index_map",
        "['NIR']",
        band_map={"R": "image"},
        band_index_map={"R": 0, "NIR": 3},
    )


@pytest.mark.parametrize("name", ["column_map", "field_roles"])
def test_column_maps_are_string_to_string(name: str) -> None:
    rejects(name, **{name: {"fid": 1}})


def test_bbox_columns_need_exactly_the_four_bounds() -> None:
    rejects("bbox_columns", "minx", bbox_columns={"minx": "w", "miny": "s", "maxx": "e"})
    rejects(
        "bbox_columns",
        "west",
        bbox_columns={"minx": "w", "miny": "s", "maxx": "e", "maxy": "n", "west": "w"},
    )


def test_surface_keys_are_known() -> None:
    rejects("surface_fields", "['warehouse']", "record_table", surface_fields={"warehouse": ["id"]})
    rejects("filter_capabilities", "index", filter_capabilities={"index": "id"})


# --- cloud config ---------------------------------------------------------------------------


def test_cloud_config_unknown_key_lists_known_keys() -> None:
    message = rejects("cloud_config", "requester_payz", cloud_config={"requester_payz": True})
    for key in ("provider", "region", "requester_pays", "url_patterns", "endpoint", "anonymous"):
        assert key in message


@pytest.mark.parametrize(
    "config",
    [
        {"provider": "dropbox"},
        {"requester_pays": "yes"},
        {"region": ""},
        {"url_patterns": {"": "s3://b/"}},
        {"endpoint": "localhost:9000"},
        "aws",
    ],
)
def test_cloud_config_values_are_checked(config: object) -> None:
    rejects("cloud_config", cloud_config=config)


def test_cloud_config_accepts_cloudconfig_and_stores_plain_dict() -> None:
    config = CloudConfig(provider="aws", region="eu-central-1", requester_pays=True)
    d = DatasetDescriptor(id="org/data", cloud_config=config)
    assert type(d.cloud_config) is dict
    assert d.cloud_config["region"] == "eu-central-1"
    assert d.cloud_config["requester_pays"] is True
    assert DatasetDescriptor(id="org/data", cloud_config=config.to_dict()) == d


# --- other fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["separate_files", "requires_auth", "commercial_use", "static_catalog", "torchgeo_verified"],
)
def test_flags_must_be_booleans(field: str) -> None:
    rejects(field, "true or false", **{field: "yes"})


@pytest.mark.parametrize("field", ["name", "description", "license", "spatial_coverage"])
def test_text_fields_must_be_strings(field: str) -> None:
    rejects(field, "string", **{field: 5})


def test_urls() -> None:
    rejects("license_url", "http", license_url="CC-BY-4.0")
    rejects("s3_credentials_url", "http", s3_credentials_url="s3://creds")
    rejects("stac_api", "static_catalog=True", stac_api="/data/catalog.json")
    rejects("stac_collection", "blank", stac_collection="   ")
    static = DatasetDescriptor(id="org/data", stac_api="/data/catalog.json", static_catalog=True)
    assert static.stac_api == "/data/catalog.json"


def test_unknown_constructor_argument_is_a_type_error_and_from_dict_names_it() -> None:
    with pytest.raises(TypeError):
        DatasetDescriptor(id="org/data", bands={"B04": "red"})  # type: ignore[call-arg]
    with pytest.raises(DescriptorError, match=r"unknown field\(s\) \['bands'\].*band_map"):
        DatasetDescriptor.from_dict({"id": "org/data", "bands": {"B04": "red"}})
    with pytest.raises(DescriptorError, match="'id' is required"):
        DatasetDescriptor.from_dict({"name": "x"})
