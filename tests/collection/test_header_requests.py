"""A build of 200 items x 4 bands from S3 (moto) parses each distinct file with ~1 request.

Requests are counted at the server: moto's request log lists every GET on the bucket.
"""

from __future__ import annotations

import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tests.collection import data

import rasteret

BUCKET = "rt-collection-headers"
STAC_COLLECTION = "rt-headers-200"
N_ITEMS = 200
BANDS = ("B02", "B03", "B04", "B08")


def _cog_bytes(tmp: Path, i: int) -> bytes:
    arr = np.arange(64 * 64, dtype="uint16").reshape(1, 64, 64) + i
    path = tmp / f"{i}.tif"
    data.write_cog(path, arr, 32633, data.from_origin(500000 + 640 * i, 5000000, 10, 10), 0)
    return path.read_bytes()


def _gets(log: str, bucket: str) -> list[str]:
    # werkzeug may wrap the request line in colour codes: match inside it
    return re.findall(rf"GET /{bucket}/(\S+) HTTP/", log)


def test_200_items_x_4_bands_one_request_per_file(moto_server, stac_server, s3_env, tmp_path: Path):
    moto_server.create_bucket(BUCKET)
    blobs = [_cog_bytes(tmp_path, i) for i in range(8)]  # a few distinct payloads
    keys = [f"items/{i:03d}/{b}.tif" for i in range(N_ITEMS) for b in BANDS]
    client = moto_server.client()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda k: client.upload_fileobj(io.BytesIO(blobs[hash(k) % len(blobs)]), BUCKET, k),
                keys,
            )
        )
    scenes = []
    for i in range(N_ITEMS):
        scene = data.Scene(
            id=f"h-{i:03d}",
            datetime=data.dt.datetime(2024, 1 + i % 12, 1 + i % 28, tzinfo=data.dt.UTC),
            epsg=32633,
            transform=data.from_origin(500000 + 640 * (i % 20), 5000000 - 640 * (i // 20), 10, 10),
            size=64,
            files={b: f"items/{i:03d}/{b}.tif" for b in BANDS},
        )
        scenes.append(scene)
    stac_server.add_collections([data.stac_collection(STAC_COLLECTION, scenes)])
    stac_server.add_items(
        [
            data.stac_item(s, lambda rel: f"s3://{BUCKET}/{rel}", collection=STAC_COLLECTION)
            for s in scenes
        ]
    )
    log_path = moto_server.workdir / "moto.log"
    before = len(_gets(log_path.read_text(errors="replace"), BUCKET))
    started = time.perf_counter()
    coll = rasteret.build_from_stac(
        name="headers200",
        stac_api=stac_server.url,
        collection=STAC_COLLECTION,
        band_map={b: data.ASSET_KEYS[b] for b in BANDS},
        bbox=(-180, -90, 180, 90),
        date_range=("2024-01-01", "2024-12-31"),
        max_concurrent=32,
    )
    seconds = time.perf_counter() - started
    time.sleep(0.2)  # let moto flush its log
    gets = _gets(log_path.read_text(errors="replace"), BUCKET)[before:]
    files = N_ITEMS * len(BANDS)
    assert len(coll) == N_ITEMS and coll.build_report.ok
    assert coll.build_report.files == files
    assert len(set(gets)) == files, "every file was read"
    per_file = len(gets) / files
    print(f"\n{files} files: {len(gets)} GETs at the server ({per_file:.3f}/file), {seconds:.2f}s")
    assert per_file <= 1.05
    assert coll.build_report.header_requests == len(gets)
