"""Test-wide settings: nothing leaves loopback, no user state is touched, network tests opt in."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

pytest_plugins = ["tests.servers.fixtures"]

# Never let a cloud SDK probe a metadata endpoint or find the developer's credentials.
_ISOLATION = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
    "NO_GCE_CHECK": "True",
    "AZURE_NO_IMDS": "1",
    "IDENTITY_ENDPOINT": "http://127.0.0.1:9",
    "MSI_ENDPOINT": "http://127.0.0.1:9",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.json,.parquet",
}
for _k in (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "GOOGLE_APPLICATION_CREDENTIALS",
):
    os.environ.pop(_k, None)
os.environ.update(_ISOLATION)
# The local registry and workspaces of the developer are never touched by tests.
_HOME = tempfile.mkdtemp(prefix="rasteret-test-home-")
os.environ["RASTERET_HOME"] = _HOME
os.environ["RASTERET_WORKSPACE"] = os.path.join(_HOME, "workspace")
os.environ.pop("RASTERET_LOCAL_DATASETS_PATH", None)


# rasterio 1.4 and rioxarray multiply Affine objects with ``*``, which affine 3 marks as pending
# deprecation: thousands of warnings per run from inside those libraries, none from ours. Only
# warnings attributed to their modules are dropped; the same warning from rasteret or a test shows.
DEPENDENCY_NOISE = r"ignore:Use `@` matmul:PendingDeprecationWarning:(rasterio|rioxarray)\."


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", DEPENDENCY_NOISE)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--network", action="store_true", help="run tests that reach the internet")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--network"):
        return
    skip = pytest.mark.skip(reason="reaches the public internet; run with --network")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)
