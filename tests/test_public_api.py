"""The top-level names users of the reference implementation import keep working."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rasteret

REFERENCE_NAMES = [
    "BandRegistry",
    "CloudConfig",
    "Collection",
    "DatasetDescriptor",
    "DatasetRegistry",
    "__version__",
    "as_collection",
    "build",
    "build_from_stac",
    "build_from_table",
    "create_backend",
    "get_options",
    "load",
    "options",
    "register",
    "register_local",
    "set_options",
    "version",
]


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_names_resolve(name: str) -> None:
    assert name in rasteret.__all__
    assert getattr(rasteret, name) is not None


def test_options_is_the_context_manager_even_after_internal_imports() -> None:
    import rasteret.tiff.engine  # noqa: F401 - imports the options module internally

    before = rasteret.get_options().coalesce_gap
    with rasteret.options(coalesce_gap=123):
        assert rasteret.get_options().coalesce_gap == 123
    assert rasteret.get_options().coalesce_gap == before


def test_unknown_option_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="coalesce_gap"):
        rasteret.set_options(coalesce_gapp=1)


def test_unknown_attribute_is_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Rasteret"):
        rasteret.Rasteret  # noqa: B018 - the reference's removed legacy class


def test_import_is_light() -> None:
    code = (
        "import sys, rasteret; heavy = [m for m in ('rasterio', 'geopandas', 'xarray', 'pyarrow')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
