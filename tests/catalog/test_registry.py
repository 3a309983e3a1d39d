"""DatasetRegistry and BandRegistry behaviour, and the facts of the built-in catalog."""

from __future__ import annotations

import warnings

import pytest

import rasteret
from rasteret import BandRegistry, CloudConfig, DatasetDescriptor, DatasetRegistry
from rasteret.errors import DatasetNotFoundError, DescriptorError, RegistryError

BUILTIN_IDS = {
    "earthsearch/sentinel-2-l2a",
    "earthsearch/landsat-c2-l2",
    "earthsearch/naip",
    "earthsearch/cop-dem-glo-30",
    "earthsearch/cop-dem-glo-90",
    "pc/sentinel-2-l2a",
    "pc/io-lulc-annual-v02",
    "pc/alos-dem",
    "pc/nasadem",
    "pc/esa-worldcover",
    "pc/usda-cdl",
    "aef/v1-annual",
}


def get(dataset_id: str) -> DatasetDescriptor:
    found = DatasetRegistry.get(dataset_id)
    assert found is not None, dataset_id
    return found


# --- built-in catalog -------------------------------------------------------------------------


def test_the_twelve_builtins_are_registered() -> None:
    ids = {d.id for d in DatasetRegistry.list()}
    assert BUILTIN_IDS <= ids
    assert all(DatasetRegistry.is_builtin(i) for i in BUILTIN_IDS)
    assert not DatasetRegistry.is_builtin("acme/none")


def test_sentinel2_band_maps() -> None:
    es = get("earthsearch/sentinel-2-l2a")
    assert es.band_map == {
        "B01": "coastal",
        "B02": "blue",
        "B03": "green",
        "B04": "red",
        "B05": "rededge1",
        "B06": "rededge2",
        "B07": "rededge3",
        "B08": "nir",
        "B8A": "nir08",
        "B09": "nir09",
        "B11": "swir16",
        "B12": "swir22",
        "SCL": "scl",
    }
    assert es.stac_api == "https://earth-search.aws.element84.com/v1"
    assert (es.requires_auth, es.cloud_config) == (False, None)
    pc = get("pc/sentinel-2-l2a")
    assert pc.band_map is not None and pc.band_map["B8A"] == "B8A" and len(pc.band_map) == 13
    assert pc.stac_api == "https://planetarycomputer.microsoft.com/api/stac/v1"
    assert pc.requires_auth is True


def test_landsat_is_requester_pays_with_usgs_rewrite() -> None:
    ls = get("earthsearch/landsat-c2-l2")
    assert ls.band_map is not None
    assert ls.band_map["B5"] == "nir08" and ls.band_map["qa_pixel"] == "qa_pixel"
    assert ls.requires_auth is True
    assert ls.cloud_config is not None
    assert ls.cloud_config["requester_pays"] is True
    assert ls.cloud_config["region"] == "us-west-2"
    assert ls.cloud_config["url_patterns"] == {
        "https://landsatlook.usgs.gov/data/": "s3://usgs-landsat/"
    }


def test_naip_is_one_four_band_cog() -> None:
    naip = get("earthsearch/naip")
    assert naip.band_map == {"R": "image", "G": "image", "B": "image", "NIR": "image"}
    assert naip.band_index_map == {"R": 0, "G": 1, "B": 2, "NIR": 3}
    assert naip.separate_files is False


@pytest.mark.parametrize(
    ("dataset_id", "band_map", "license"),
    [
        ("earthsearch/cop-dem-glo-30", {"DEM": "data"}, "proprietary"),
        ("earthsearch/cop-dem-glo-90", {"DEM": "data"}, "proprietary"),
        ("pc/io-lulc-annual-v02", {"LULC": "data"}, "CC-BY-4.0"),
        ("pc/alos-dem", {"DEM": "data"}, "proprietary"),
        ("pc/nasadem", {"DEM": "elevation"}, "proprietary"),
        ("pc/esa-worldcover", {"MAP": "map"}, "CC-BY-4.0"),
        ("pc/usda-cdl", {"CDL": "cultivated"}, "proprietary"),
    ],
)
def test_single_band_products(dataset_id: str, band_map: dict, license: str) -> None:
    d = get(dataset_id)
    assert (d.band_map, d.license) == (band_map, license)
    assert d.license_url.startswith("https://")
    assert d.requires_auth is dataset_id.startswith("pc/")


def test_aef_is_read_ready_and_public() -> None:
    aef = get("aef/v1-annual")
    assert aef.band_map is None
    assert aef.band_index_map == {f"A{i:02d}": i for i in range(64)}
    assert aef.collection_uri is not None and aef.collection_uri.endswith("/data")
    assert aef.access_method == "collection"
    assert aef.requires_auth is False and aef.license == "CC-BY-4.0"
    assert aef.cloud_config is not None
    assert aef.cloud_config["url_patterns"] == {
        "https://data.source.coop/": "s3://us-west-2.opendata.source.coop/"
    }


def test_every_builtin_can_be_built_and_has_licence_and_examples() -> None:
    for dataset_id in BUILTIN_IDS:
        d = get(dataset_id)
        assert d.require_access_method() in ("stac", "collection")
        assert d.license and d.temporal_range and d.example_bbox and d.example_date_range


def test_side_tables_hold_builtin_maps_and_aliases() -> None:
    assert BandRegistry.get("earthsearch/sentinel-2-l2a", {})["B04"] == "red"
    assert BandRegistry.get("sentinel-2-l2a", {})["B04"] == "red"
    landsat = CloudConfig.get_config("landsat-c2-l2")
    assert landsat is not None and landsat.requester_pays is True
    aef = CloudConfig.get_config("aef/v1-annual")
    assert aef is not None and aef.region == "us-west-2"


# --- registry operations ------------------------------------------------------------------------


def test_register_get_unregister_round_trip() -> None:
    d = DatasetDescriptor(
        id="acme/survey",
        band_map={"R": "red"},
        cloud_config={"provider": "aws", "region": "eu-west-1"},
    )
    rasteret.register(d)
    assert DatasetRegistry.get("acme/survey") is d
    assert DatasetRegistry.list()[-1] is d
    assert BandRegistry.get("acme/survey") == {"R": "red"}
    config = CloudConfig.get_config("acme/survey")
    assert config is not None and config.region == "eu-west-1"
    assert DatasetRegistry.unregister("acme/survey") is d
    assert DatasetRegistry.get("acme/survey") is None
    assert BandRegistry.get("acme/survey") is None
    assert CloudConfig.get_config("acme/survey") is None
    assert DatasetRegistry.unregister("acme/survey") is None


def test_reregistering_replaces_and_side_tables_follow_last_write() -> None:
    rasteret.register(
        DatasetDescriptor(id="acme/a", band_map={"R": "red"}, cloud_config={"region": "x-1"})
    )
    second = DatasetDescriptor(id="acme/a", band_map={"R": "rot"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a built-in: no warning
        rasteret.register(second)
    assert DatasetRegistry.get("acme/a") is second
    assert [d.id for d in DatasetRegistry.list()].count("acme/a") == 1
    assert BandRegistry.get("acme/a") == {"R": "rot"}
    assert CloudConfig.get_config("acme/a") is None


def test_shadowing_a_builtin_warns_and_restore_brings_it_back() -> None:
    builtin = get("pc/nasadem")
    custom = builtin.replace(band_map={"DEM": "dem"})
    with pytest.warns(UserWarning, match="pc/nasadem.*built-in"):
        DatasetRegistry.register(custom)
    assert get("pc/nasadem") is custom and BandRegistry.get("pc/nasadem") == {"DEM": "dem"}
    assert DatasetRegistry.restore_builtin("pc/nasadem") is builtin
    assert get("pc/nasadem") is builtin and BandRegistry.get("pc/nasadem") == {"DEM": "elevation"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an identical descriptor does not warn
        DatasetRegistry.register(builtin.replace())


def test_register_refuses_non_descriptors() -> None:
    with pytest.raises(DescriptorError, match="DatasetDescriptor"):
        DatasetRegistry.register({"id": "acme/x"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("SENTINEL", {"earthsearch/sentinel-2-l2a", "pc/sentinel-2-l2a"}),
        ("planetary computer", {d for d in BUILTIN_IDS if d.startswith("pc/")}),
        ("embeddings", {"aef/v1-annual"}),
        ("A63", {"aef/v1-annual"}),
        ("qa_radsat", {"earthsearch/landsat-c2-l2"}),
        ("nir", {"earthsearch/naip"}),
        ("no-such-thing", set()),
    ],
)
def test_search_over_id_name_description_and_band_codes(keyword: str, expected: set) -> None:
    assert {d.id for d in DatasetRegistry.search(keyword)} == expected


def test_search_finds_registered_band_codes_case_insensitively() -> None:
    rasteret.register(DatasetDescriptor(id="acme/thermal", band_map={"TIRS1": "lwir11"}))
    assert [d.id for d in DatasetRegistry.search("tirs1")] == ["acme/thermal"]
    with pytest.raises(RegistryError):
        DatasetRegistry.search(None)  # type: ignore[arg-type]


def test_require_suggests_closest_ids() -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        DatasetRegistry.require("earthsearch/sentinel-2-l2")
    assert "'earthsearch/sentinel-2-l2a'" in str(info.value)
    assert isinstance(info.value, KeyError)
    with pytest.raises(DatasetNotFoundError, match="no similar id"):
        DatasetRegistry.require("zzzz/qqqq")


def test_band_registry_last_write_wins_and_validates() -> None:
    BandRegistry.register("custom-source", {"B1": "one"})
    BandRegistry.register("custom-source", {"B1": "uno"})
    assert BandRegistry.get("custom-source") == {"B1": "uno"}
    assert BandRegistry.list_registered()["custom-source"] == {"B1": "uno"}
    copy = BandRegistry.get("custom-source")
    assert copy is not None
    copy["B2"] = "two"
    assert BandRegistry.get("custom-source") == {"B1": "uno"}
    assert BandRegistry.get("missing", {"x": "y"}) == {"x": "y"}
    with pytest.raises(DescriptorError, match="band_map"):
        BandRegistry.register("custom-source", {"B1": ""})
