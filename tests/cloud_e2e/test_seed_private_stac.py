"""The seed's "Private STAC API" example, run as written against a local STAC API whose assets
sit in a private bucket of moto with IAM enforced. Only the STAC API URL differs; the
credentials (and moto's endpoint) come from the standard AWS environment variables, as they
would for a user. The same snippet without credentials fails saying what to set."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely
from shapely.geometry import mapping

from rasteret import DatasetRegistry
from rasteret.errors import BuildError
from tests.collection import data
from tests.servers.moto import AccessKeys, MotoServer, read_only_policy
from tests.servers.stac import StacApiServer

BUCKET = "rt-e2e-internal-imagery"
DATASET = "mycompany/internal-imagery"


class World:
    def __init__(self, stac_api: str, root: Path, scenes: list, reader: AccessKeys) -> None:
        self.stac_api = stac_api
        self.root = root
        self.scenes = scenes
        self.reader = reader


@pytest.fixture(scope="module")
def world(moto_iam_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Its own STAC API (the seed's collection id must not clash with other modules'), scenes
    near Washington in June-August 2024, their files in a private bucket, a reader's keys."""
    root = tmp_path_factory.mktemp("seed-private")
    scenes = data.make_scenes(
        root,
        2,
        prefix="internal",
        multiband=False,
        start=dt.datetime(2024, 6, 5, 15, tzinfo=dt.UTC),
        step_days=40,
        origin=(-77.08, 38.98),
        zones=(32618,),
    )
    moto_iam_server.create_bucket(BUCKET)
    for scene in scenes:
        for rel in scene.files.values():
            moto_iam_server.upload(BUCKET, rel, root / rel)
    reader = moto_iam_server.create_user("rt-e2e-internal-reader", read_only_policy(BUCKET))
    items = [
        data.stac_item(s, lambda rel: f"s3://{BUCKET}/{rel}", collection="internal-2024")
        for s in scenes
    ]
    with StacApiServer(
        collections=[data.stac_collection("internal-2024", scenes)], items=items
    ) as stac:
        yield World(stac.url, root, scenes, reader)


@pytest.fixture
def aws_env(world: World, moto_iam_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_iam_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", world.reader.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", world.reader.secret_access_key)


@pytest.fixture(autouse=True)
def unregister() -> Iterator[None]:
    yield
    DatasetRegistry.unregister(DATASET)


def run_seed_snippet(stac_api: str):
    import rasteret
    from rasteret import DatasetDescriptor

    # Define descriptor
    descriptor = DatasetDescriptor(
        id="mycompany/internal-imagery",
        name="Internal High-Res Imagery",
        description="Proprietary 1m imagery, internal use only",
        stac_api=stac_api,
        stac_collection="internal-2024",
        band_map={
            "R": "red",
            "G": "green",
            "B": "blue",
        },
        spatial_coverage="regional",
        temporal_range=("2024-01-01", "present"),
        requires_auth=True,
        license="proprietary",
        commercial_use=False,
    )
    # Register it
    rasteret.register(descriptor)
    # Use with credentials
    from obstore.store import S3Store  # noqa: F401 - as in the seed

    backend = rasteret.create_backend(
        default_s3_config={"region": "us-east-1"},
    )
    collection = rasteret.build(
        "mycompany/internal-imagery",
        name="project-x",
        bbox=(-77.1, 38.8, -76.9, 39.0),
        date_range=("2024-06-01", "2024-08-31"),
        backend=backend,
    )
    return collection


def test_private_stac_api_example(world: World, aws_env: None) -> None:
    collection = run_seed_snippet(world.stac_api)
    assert collection.build_report.parsed == 6 and not collection.build_report.failures
    assert sorted(collection.to_table(columns=["id"]).column("id").to_pylist()) == [
        s.id for s in world.scenes
    ]
    # Pixels read with the build's backend equal rasterio's.
    scene = world.scenes[0]
    t = scene.transform
    aoi = shapely.Polygon(
        [(t.c + 105, t.f - 95), (t.c + 1900, t.f - 310), (t.c + 1650, t.f - 2200)]
    )
    arr, index = collection.get_numpy(
        aoi, ["R", "G"], geometry_crs=scene.epsg, return_index=True, strict=True
    )
    assert index.column("record_id").to_pylist() == [scene.id]
    for c, band in enumerate(("B04", "B03")):
        with rasterio.open(world.root / scene.files[band]) as src:
            want, _ = rasterio.mask.mask(src, [mapping(aoi)], crop=True, indexes=1)
        np.testing.assert_array_equal(arr[0, c], want)


def test_private_stac_api_example_without_credentials(
    world: World, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(BuildError) as err:
        run_seed_snippet(world.stac_api)
    message = str(err.value)
    assert "mycompany/internal-imagery" in message and "requires_auth" in message
    assert "AWS_ACCESS_KEY_ID" in message


def test_private_stac_api_example_with_keys_of_another_user(
    world: World, aws_env: None, moto_iam_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    outsider = moto_iam_server.create_user("rt-e2e-outsider", read_only_policy("rt-e2e-other"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", outsider.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", outsider.secret_access_key)
    with pytest.raises(BuildError) as err:
        run_seed_snippet(world.stac_api)
    message = str(err.value)
    assert "403" in message and f"s3://{BUCKET}/" in message
    assert outsider.secret_access_key not in message and outsider.access_key_id not in message
