"""Fixtures for collection tests: isolated workspace and registry, synthetic scenes on nginx and
moto, and a STAC API holding items that point at them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.catalog.isolation import registry_file
from tests.collection import data

__all__ = ["registry_file"]

COLLECTION = "rt-coll-synth"
NGINX_DIR = "rt-collection"


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Builds land in a per-test workspace (never ~/rasteret_workspace)."""
    ws = tmp_path / "workspace"
    monkeypatch.setenv("RASTERET_WORKSPACE", str(ws))
    return ws


@dataclass
class Served:
    """Synthetic scenes written under ``root`` and served by nginx at ``base_url``."""

    root: Path
    base_url: str
    scenes: list[data.Scene]

    def url(self, rel: str) -> str:
        return f"{self.base_url}/{rel}"

    def path(self, rel: str) -> Path:
        return self.root / rel


@pytest.fixture(scope="session")
def served(nginx_server, nginx_root: Path) -> Served:
    """Six scenes (two UTM zones, four bands + a 4-band COG) served over HTTP by nginx."""
    root = nginx_root / NGINX_DIR
    scenes = data.make_scenes(root, 6)
    return Served(root, f"{nginx_server.url}/{NGINX_DIR}", scenes)


@pytest.fixture(scope="session")
def stac_api(stac_server, served: Served) -> str:
    """The STAC API URL, with collection ``COLLECTION`` holding one item per scene."""
    stac_server.add_collections([data.stac_collection(COLLECTION, served.scenes)])
    stac_server.add_items(
        [data.stac_item(s, served.url, collection=COLLECTION) for s in served.scenes]
    )
    return stac_server.url


@pytest.fixture(scope="session")
def static_catalog(served: Served) -> Path:
    """A static catalog (relative hrefs) next to the served scenes."""
    return data.write_static_catalog(served.root, served.scenes, COLLECTION)


@pytest.fixture()
def scenes_copy(tmp_path: Path, served: Served) -> Path:
    """A private copy of the scene files (for tests that delete or corrupt some)."""
    target = tmp_path / "scenes"
    shutil.copytree(served.root, target, ignore=shutil.ignore_patterns("catalog"))
    return target


@pytest.fixture()
def s3_env(moto_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point S3 at moto through the standard AWS environment variables."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield moto_server.endpoint
