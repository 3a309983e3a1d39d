"""Fixtures of the end-to-end cloud tests: builds and reads through every kind of store.

Two overlapping scenes (bands ``red`` and ``nir``, random uint16 COGs with 128-px tiles and
overviews) are written once with rasterio and uploaded to:

- moto with IAM enforced: a private bucket and a "requester-pays" bucket (the fault proxy in
  front of moto refuses requests without the request-payer header, as S3 does);
- Azurite (a private container, SAS tokens from a local token endpoint);
- the GCS emulator; nginx (plain HTTP).

Builds read static catalogs written per test (absolute hrefs on those stores) or the shared
STAC API; reads are compared with rasterio reading the local files. Names are ``rt-e2e-*`` so
other modules sharing the session servers are unaffected.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import mapping

import rasteret
from rasteret import DatasetDescriptor, DatasetRegistry
from tests.servers.azurite import AzuriteServer, container_sas
from tests.servers.credentials import CredentialsServer
from tests.servers.gcs import GcsServer
from tests.servers.moto import AccessKeys, MotoServer, read_only_policy
from tests.servers.nginx import NginxServer
from tests.servers.proxy import FaultProxy

PRIVATE = "rt-e2e-private"
PAYER = "rt-e2e-payer"
CONTAINER = "rt-e2e-cogs"
GCS_BUCKET = "rte2egcs"
HTTP_DIR = "rt-e2e"
COLLECTION = "rt-e2e"
BANDS = ("red", "nir")
EPSG = 32633
SIZE = 300
# An AOI inside both scenes (EPSG:32633), not aligned with the pixel grid.
AOI = shapely.Polygon([(500910, 4998840), (502370, 4998790), (502290, 4997530), (501060, 4997610)])
LONLAT_BBOX = (14.9, 45.0, 15.2, 45.2)


@dataclass(frozen=True)
class Scene:
    """One test scene: its id, date, footprint (lon/lat) and local COG per band."""

    id: str
    datetime: dt.datetime
    footprint: shapely.Polygon
    files: dict[str, Path]

    def key(self, band: str) -> str:
        """The object key of a band's file inside any store."""
        return f"scenes/{self.id}/{band}.tif"


def _write_cog(path: Path, data: np.ndarray, x0: float, y0: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=SIZE,
        height=SIZE,
        count=1,
        dtype="uint16",
        crs=f"EPSG:{EPSG}",
        transform=from_origin(x0, y0, 10, 10),
        compress="DEFLATE",
        blocksize=128,
        overviews="AUTO",
        nodata=0,
    ) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Scene]:
    root = tmp_path_factory.mktemp("cloud-e2e")
    rng = np.random.default_rng(2024)
    to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
    out = []
    for i, (x0, y0) in enumerate([(500000.0, 5000000.0), (500600.0, 4999400.0)]):
        scene_id = f"e2e-{i}"
        files = {}
        for band in BANDS:
            data = rng.integers(1, 60000, size=(SIZE, SIZE), dtype="uint16")
            data[rng.random((SIZE, SIZE)) < 0.02] = 0
            files[band] = _write_cog(root / scene_id / f"{band}.tif", data, x0, y0)
        box = shapely.box(x0, y0 - SIZE * 10, x0 + SIZE * 10, y0)
        footprint = shapely.transform(
            shapely.segmentize(box, 100), lambda xy: np.column_stack(to_lonlat.transform(*xy.T))
        )
        when = dt.datetime(2024, 6, 10 + 20 * i, 10, tzinfo=dt.UTC)
        out.append(Scene(scene_id, when, footprint, files))
    return out


# --- STAC ---------------------------------------------------------------------------------------


def stac_item(scene: Scene, href_of: Callable[[str], str], collection: str) -> dict[str, Any]:
    """A STAC item of ``scene`` whose assets are at ``href_of(object key)``."""
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": scene.id,
        "collection": collection,
        "geometry": mapping(scene.footprint),
        "bbox": list(scene.footprint.bounds),
        "properties": {"datetime": scene.datetime.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "links": [],
        "assets": {
            band: {
                "href": href_of(scene.key(band)),
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
            }
            for band in BANDS
        },
    }


def stac_collection(collection: str, scenes: list[Scene]) -> dict[str, Any]:
    bounds = shapely.union_all([s.footprint for s in scenes]).bounds
    times = sorted(s.datetime.isoformat() for s in scenes)
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection,
        "description": "end-to-end cloud test scenes",
        "license": "proprietary",
        "links": [],
        "extent": {
            "spatial": {"bbox": [list(bounds)]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
    }


def write_catalog(folder: Path, scenes: list[Scene], href_of: Callable[[str], str]) -> Path:
    """A static catalog (catalog.json -> items) in ``folder`` with absolute asset hrefs."""
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    for scene in scenes:
        (folder / f"{scene.id}.json").write_text(json.dumps(stac_item(scene, href_of, COLLECTION)))
        links.append({"rel": "item", "href": f"./{scene.id}.json"})
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "rt-e2e-root",
        "description": "end-to-end cloud test catalog",
        "links": links,
    }
    (folder / "catalog.json").write_text(json.dumps(catalog))
    return folder / "catalog.json"


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Builds without ``workspace_dir`` are cached in this test's own folder."""
    folder = tmp_path / "workspace"
    monkeypatch.setenv("RASTERET_WORKSPACE", str(folder))
    return folder


@pytest.fixture
def dataset(tmp_path: Path, scenes: list[Scene]) -> Iterator[Callable[..., DatasetDescriptor]]:
    """Factory: register a dataset whose static catalog points at ``href_of(key)``; the
    registrations are removed after the test."""
    registered: list[str] = []

    def register(dataset_id: str, href_of: Callable[[str], str], **fields: Any) -> Any:
        catalog = write_catalog(
            tmp_path / "catalogs" / dataset_id.replace("/", "_"), scenes, href_of
        )
        descriptor = DatasetDescriptor(
            id=dataset_id,
            name=dataset_id,
            stac_api=str(catalog),
            stac_collection=COLLECTION,
            static_catalog=True,
            band_map={b: b for b in BANDS},
            **fields,
        )
        rasteret.register(descriptor)
        registered.append(dataset_id)
        return descriptor

    yield register
    for dataset_id in registered:
        DatasetRegistry.unregister(dataset_id)


# --- ground truth -------------------------------------------------------------------------------


def expected(scene: Scene, band: str, aoi: shapely.Geometry = AOI) -> np.ndarray:
    """rasterio's pixels of ``band`` of ``scene`` inside ``aoi`` (outside: nodata)."""
    with rasterio.open(scene.files[band]) as src:
        data, _ = rasterio.mask.mask(src, [mapping(aoi)], crop=True, indexes=1)
    return data


def assert_reads_match(collection: Any, scenes: list[Scene], **read_options: Any) -> None:
    """``collection.get_numpy`` over the AOI equals rasterio for every scene and band."""
    arr, index = collection.get_numpy(
        AOI, list(BANDS), geometry_crs=EPSG, return_index=True, strict=True, **read_options
    )
    ids = index.column("record_id").to_pylist()
    assert sorted(ids) == sorted(s.id for s in scenes)
    by_id = {s.id: s for s in scenes}
    for n, record_id in enumerate(ids):
        for c, band in enumerate(BANDS):
            want = expected(by_id[record_id], band)
            assert arr[n, c].dtype == want.dtype
            np.testing.assert_array_equal(arr[n, c], want)


def stored_hrefs(collection: Any) -> list[str]:
    """Every band href the collection stores."""
    rows = collection.to_table(columns=["assets"]).column("assets").to_pylist()
    return sorted(asset["href"] for row in rows for asset in row.values() if asset)


def collection_bytes(collection: Any) -> bytes:
    """Every byte the collection's folder holds on disk (Parquet files and sidecars)."""
    folder = Path(collection.path)
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    assert files, f"nothing written under {folder}"
    return b"".join(p.read_bytes() for p in files)


# --- servers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3World:
    """moto with IAM on, the proxy in front of it, and a user who may read both buckets."""

    moto: MotoServer
    proxy: FaultProxy
    reader: AccessKeys

    def config(self, *, keys: AccessKeys | None = None, via_proxy: bool = False) -> dict:
        """obstore S3 config reaching moto (directly or through the proxy)."""
        out = {"endpoint": self.proxy.url if via_proxy else self.moto.endpoint}
        out["region"] = "us-east-1"
        if keys is not None:
            out["access_key_id"] = keys.access_key_id
            out["secret_access_key"] = keys.secret_access_key
        return out


@pytest.fixture(scope="session")
def s3_world(moto_iam_server: MotoServer, scenes: list[Scene]) -> Iterator[S3World]:
    statements = []
    for bucket in (PRIVATE, PAYER):
        moto_iam_server.create_bucket(bucket)
        for scene in scenes:
            for band in BANDS:
                moto_iam_server.upload(bucket, scene.key(band), scene.files[band])
        statements += read_only_policy(bucket)["Statement"]
    reader = moto_iam_server.create_user(
        "rt-e2e-reader", {"Version": "2012-10-17", "Statement": statements}
    )
    with FaultProxy(moto_iam_server.endpoint) as proxy:
        yield S3World(moto_iam_server, proxy, reader)


@pytest.fixture
def s3(s3_world: S3World) -> Iterator[S3World]:
    """The S3 world; the proxy's rules are cleared after the test."""
    yield s3_world
    s3_world.proxy.clear_rules()


@pytest.fixture
def credentials_server(s3_world: S3World) -> Iterator[CredentialsServer]:
    """Temporary keys for the private bucket (Bearer ``t0ken-for-e2e``), 4 s life, deleted
    from moto when they expire."""
    policy = {"Version": "2012-10-17", "Statement": read_only_policy(PRIVATE)["Statement"]}
    server = CredentialsServer(
        token="t0ken-for-e2e", iam=s3_world.moto.client("iam"), s3_policy=policy
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def azurite(scenes: list[Scene]) -> Iterator[AzuriteServer]:
    with AzuriteServer() as server:
        server.create_container(CONTAINER)
        for scene in scenes:
            for band in BANDS:
                server.upload(CONTAINER, scene.key(band), scene.files[band])
        yield server


def _sas_signer(container: str, expires_at: dt.datetime, valid: bool) -> str:
    return container_sas(container, expires_at)


@pytest.fixture
def sas_server() -> Iterator[CredentialsServer]:
    """Container SAS tokens for Azurite, 4 s life, Planetary Computer's answer shape."""
    with CredentialsServer(sas_signer=_sas_signer) as server:
        yield server


@pytest.fixture(scope="session")
def gcs(scenes: list[Scene]) -> Iterator[GcsServer]:
    with GcsServer() as server:
        server.create_bucket(GCS_BUCKET)
        for scene in scenes:
            for band in BANDS:
                server.upload(GCS_BUCKET, scene.key(band), scene.files[band])
        yield server


@pytest.fixture(scope="session")
def http_root(nginx_server: NginxServer, nginx_root: Path, scenes: list[Scene]) -> str:
    """The scenes served by nginx: ``{http_root}/{key}``."""
    for scene in scenes:
        for band in BANDS:
            target = nginx_root / HTTP_DIR / scene.key(band)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(scene.files[band], target)
    return f"{nginx_server.url}/{HTTP_DIR}"
