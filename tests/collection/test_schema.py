"""The per-band header struct: every TiffHeader field round-trips through Parquet, shared files
store their tile tables once, and 100k-tile tables stay compact and are read back zero-copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
from affine import Affine
from pyproj import CRS
from tests.collection.truth import assert_same_header, header_from_file

from rasteret.ingest import schema as S
from rasteret.tiff.model import ImageLayout, TiffHeader


def _round_trip(values: list[dict], tmp_path: Path) -> pa.StructArray:
    table = pa.table({"b": pa.array(values, S.BAND_TYPE)})
    pq.write_table(table, tmp_path / "t.parquet", compression="zstd")
    return pq.read_table(tmp_path / "t.parquet").column("b").combine_chunks()


def test_header_with_overviews_and_masks_round_trips(tmp_path: Path):
    path = tmp_path / "masked.tif"
    data = np.arange(300 * 200, dtype="float32").reshape(1, 200, 300)
    data[0, :5, :5] = np.nan
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=300,
            height=200,
            count=1,
            dtype="float32",
            crs="EPSG:3035",
            transform=Affine(25.0, 0, 4_000_000, 0, -25.0, 3_000_000),
            tiled=True,
            blockxsize=64,
            blockysize=64,
            compress="zstd",
            predictor=3,
            nodata=np.nan,
        ) as dst:
            dst.write(data)
            mask = np.full((200, 300), 255, "uint8")
            mask[:5, :5] = 0
            dst.write_mask(mask)
            dst.update_tags(1, note="x")
            dst.scales, dst.offsets = (0.5,), (10.0,)
        with rasterio.open(path, "r+") as dst:
            dst.build_overviews([2, 4], rasterio.enums.Resampling.nearest)
    truth = header_from_file(path, "s3://bucket/masked.tif")
    assert len(truth.images) == 3 and all(m is not None for m in truth.masks)
    column = _round_trip([S.band_value(band_index=0, header=S.header_to_dict(truth))], tmp_path)
    (got,) = S.decode_headers(column, ["s3://bucket/masked.tif"])
    assert_same_header(got, truth)
    assert got.source == "s3://bucket/masked.tif"
    assert np.isnan(got.nodata)
    assert got.scales == (0.5,) and got.offsets == (10.0,)
    for a, b in zip(got.masks, truth.masks, strict=True):
        np.testing.assert_array_equal(a.offsets, b.offsets)
        assert (a.width, a.height, a.subfile_type) == (b.width, b.height, b.subfile_type)


def test_crs_text_round_trips():
    for crs in (
        CRS.from_epsg(32633),
        CRS.from_epsg(4326),
        CRS.from_proj4("+proj=sinu +R=6371007.181"),
    ):
        text = S.crs_to_text(crs)
        assert S.crs_from_text(text) == crs
    assert S.crs_to_text(CRS.from_epsg(32633)) == "EPSG:32633"


def test_band_reference_holds_no_tables():
    value = S.band_value(band_index=2, header_of="R", nodata=-1.0)
    assert "images" not in value and value["header_of"] == "R" and value["nodata"] == -1.0
    (stored,) = pa.array([value], S.BAND_TYPE).to_pylist()
    assert stored["images"] is None and stored["band_index"] == 2


def _huge_header(tiles_across: int, tiles_down: int) -> TiffHeader:
    n = tiles_across * tiles_down
    offsets = np.arange(n, dtype=np.uint64) * 4096 + 16384
    layout = ImageLayout(
        width=tiles_across * 512,
        height=tiles_down * 512,
        block_width=512,
        block_height=512,
        tiled=True,
        samples_per_pixel=1,
        planar_configuration=1,
        bits_per_sample=16,
        sample_format=1,
        dtype="uint16",
        compression=8,
        predictor=2,
        photometric=1,
        offsets=offsets,
        byte_counts=np.full(n, 4000, np.uint64),
    )
    return TiffHeader(
        source="s3://b/huge.tif",
        images=(layout,),
        masks=(None,),
        crs=CRS.from_epsg(32633),
        transform=Affine(10, 0, 0, 0, -10, 0),
        size=int(offsets[-1]) + 4096,
    )


def test_100k_tile_table_is_compact_and_zero_copy(tmp_path: Path):
    header = _huge_header(400, 250)  # 100,000 tiles
    n = 100_000
    column = pa.array([S.band_value(band_index=0, header=S.header_to_dict(header))], S.BAND_TYPE)
    # 16 bytes per tile in memory (offset + byte count), not 100k Python objects
    assert column.nbytes < 16 * n + 10_000
    read = _round_trip([S.band_value(band_index=0, header=S.header_to_dict(header))], tmp_path)
    assert (tmp_path / "t.parquet").stat().st_size < 16 * n
    (got,) = S.decode_headers(read, ["s3://b/huge.tif"])
    offsets = got.images[0].offsets
    assert offsets.dtype == np.dtype("<u8") and len(offsets) == n
    assert not offsets.flags.owndata, "a view on the Arrow buffer, not a copy"
    np.testing.assert_array_equal(offsets, header.images[0].offsets)
    np.testing.assert_array_equal(got.images[0].byte_counts, header.images[0].byte_counts)
