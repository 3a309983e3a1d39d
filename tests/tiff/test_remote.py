"""About 30 matrix files read over HTTP (nginx) and S3 (moto) equal rasterio's reads of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rasteret.errors import ObjectChangedError, ObjectNotFoundError
from rasteret.io import create_backend, run_sync
from rasteret.tiff import BlockRef, fetch_blocks, open_geotiff
from rasteret.tiff.cache import clear_block_cache
from tests.servers.moto import MotoServer
from tests.servers.nginx import NginxServer
from tests.tiff.compare import compare_with_rasterio
from tests.tiff.conftest import CASES
from tests.tiff.matrix import Written, case_id

FOLDER = "rt-tiff"
BUCKET = "rt-tiff-matrix"
REMOTE = list(range(0, len(CASES), 3))


@pytest.fixture(scope="module")
def served(nginx_root: Path, matrix_files: list[Written]) -> Path:
    folder = nginx_root / FOLDER
    folder.mkdir(exist_ok=True)
    for i in REMOTE:
        shutil.copy(matrix_files[i].path, folder / matrix_files[i].name)
    return folder


@pytest.fixture(scope="module")
def bucket(moto_server: MotoServer, matrix_files: list[Written]) -> str:
    moto_server.create_bucket(BUCKET)
    for i in REMOTE:
        moto_server.upload(BUCKET, f"matrix/{matrix_files[i].name}", matrix_files[i].path)
    return BUCKET


def s3_backend(moto: MotoServer):
    return create_backend(
        default_s3_config={
            "endpoint": moto.endpoint,
            "region": "us-east-1",
            "access_key_id": "test",
            "secret_access_key": "test",
        }
    )


@pytest.mark.parametrize("index", REMOTE, ids=[case_id(CASES[i]) for i in REMOTE])
def test_matrix_over_http(
    index: int, served: Path, nginx_server: NginxServer, matrix_files: list[Written]
) -> None:
    written = matrix_files[index]
    tif = open_geotiff(f"{nginx_server.url}/{FOLDER}/{written.name}")
    compare_with_rasterio(tif, written.path, seed=index)


@pytest.mark.parametrize("index", REMOTE, ids=[case_id(CASES[i]) for i in REMOTE])
def test_matrix_over_s3(
    index: int, bucket: str, moto_server: MotoServer, matrix_files: list[Written]
) -> None:
    written = matrix_files[index]
    tif = open_geotiff(f"s3://{bucket}/matrix/{written.name}", store=s3_backend(moto_server))
    compare_with_rasterio(tif, written.path, seed=index)


def test_cog_header_is_one_http_request(
    served: Path, nginx_server: NginxServer, matrix_files: list[Written]
) -> None:
    cogs = [i for i in REMOTE if CASES[i]["overviews"] == "cog"]
    with_overviews = 0
    for i in cogs:
        name = matrix_files[i].name
        mark = nginx_server.mark()
        tif = open_geotiff(f"{nginx_server.url}/{FOLDER}/{name}")
        hits = [r for r in nginx_server.requests(since=mark) if r["path"].endswith(name)]
        assert len(hits) == 1 and tif.header_requests == 1
        assert hits[0]["method"] == "GET"
        with_overviews += bool(tif.overviews)
    assert with_overviews >= 2


def test_obstore_store_with_key(
    bucket: str, moto_server: MotoServer, matrix_files: list[Written]
) -> None:
    from obstore.store import S3Store

    store = S3Store(
        bucket, endpoint=moto_server.endpoint, region="us-east-1", access_key_id="test",
        secret_access_key="test", client_options={"allow_http": True},
    )  # fmt: skip
    written = matrix_files[REMOTE[1]]
    tif = open_geotiff(f"matrix/{written.name}", store=store)
    compare_with_rasterio(tif, written.path, seed=REMOTE[1], masks=False)


def test_replaced_object_fails_if_match_over_http(
    served: Path, nginx_server: NginxServer, matrix_files: list[Written]
) -> None:
    path = served / "replaced.tif"
    shutil.copy(matrix_files[0].path, path)
    url = f"{nginx_server.url}/{FOLDER}/replaced.tif"
    header = open_geotiff(url).header
    assert header.etag
    full = header.full
    index = int(np.flatnonzero(full.byte_counts)[0])
    items = [(BlockRef(url, full, index, etag=header.etag), lambda b: None)]
    run_sync(fetch_blocks(items))
    shutil.copy(matrix_files[1].path, path)
    clear_block_cache()  # a cached block is the old version's pixels; this tests the fetch
    with pytest.raises(ObjectChangedError, match="replaced.tif"):
        run_sync(fetch_blocks(items))


def test_missing_object_is_named(nginx_server: NginxServer, served: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match="nope.tif"):
        open_geotiff(f"{nginx_server.url}/{FOLDER}/nope.tif")
