"""The seed document's (dataset-registry.md) descriptor snippets, written once.

Each function body is the document's ``DatasetDescriptor(...)`` as written; only the addresses a
test must point at local servers are parameters, and their defaults are the document's own.
tests/catalog runs them with the defaults (registration needs no server), tests/collection with
127.0.0.1 servers and goes on to build from them.
"""

from __future__ import annotations

from rasteret import DatasetDescriptor

ACME_STAC = "https://stac.acme.com/v1"
INTERNAL_STAC = "https://stac.internal.mycompany.com/v1"
EXAMPLE_STAC = "https://stac.example.com/v1"
SOURCE_COOP_MIRROR = "https://data.source.coop/"


def field_survey(stac_api: str = ACME_STAC) -> DatasetDescriptor:
    """Quick Start: Register a STAC dataset."""
    # Define your dataset
    descriptor = DatasetDescriptor(
        id="acme/field-survey-2024",
        name="ACME Field Survey 2024",
        description="High-res drone imagery, 10cm, agricultural fields",
        stac_api=stac_api,
        stac_collection="field-survey-2024",
        band_map={
            "R": "red",
            "G": "green",
            "B": "blue",
            "NIR": "nir",
        },
        spatial_coverage="regional",
        temporal_range=("2024-01-01", "2024-12-31"),
        license="proprietary",
    )
    return descriptor


def internal_imagery(stac_api: str = INTERNAL_STAC) -> DatasetDescriptor:
    """Examples: Private STAC API."""
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
    return descriptor


def custom_index() -> DatasetDescriptor:
    """Descriptor fields, Access: GeoParquet."""
    return DatasetDescriptor(
        id="my-org/custom-index",
        geoparquet_uri="s3://my-bucket/index.parquet",
        column_map={
            "fid": "id",
            "geom": "geometry",
            "timestamp": "datetime",
        },
        href_column="cog_url",
        band_index_map={"R": 0, "G": 1, "B": 2},  # Multi-band COG
    )


def naip_custom(
    stac_api: str = EXAMPLE_STAC, stac_collection: str = "naip-custom"
) -> DatasetDescriptor:
    """Advanced: Multi-Band COGs."""
    return DatasetDescriptor(
        id="my-org/naip-custom",
        stac_api=stac_api,
        stac_collection=stac_collection,
        band_map={
            "R": "image",  # All bands map to the same asset
            "G": "image",
            "B": "image",
            "NIR": "image",
        },
        band_index_map={  # Sample index within the multi-band COG
            "R": 0,
            "G": 1,
            "B": 2,
            "NIR": 3,
        },
        separate_files=False,  # Indicates multi-band COG
    )


def aef_custom(mirror: str = SOURCE_COOP_MIRROR) -> DatasetDescriptor:
    """Examples: GeoParquet Index from Source Cooperative (``mirror``: the HTTP host that
    ``url_patterns`` sends the bucket's reads to)."""
    # AEF embeddings (already registered, shown here for reference)
    descriptor = DatasetDescriptor(
        id="my-org/aef-custom",
        name="AEF Embeddings (Custom)",
        description="64-band int8 embeddings, 10m, annual",
        geoparquet_uri=(
            "s3://us-west-2.opendata.source.coop/tge-labs/aef/v1/annual/aef_index.parquet"
        ),
        column_map={"fid": "id", "geom": "geometry", "year": "datetime"},
        href_column="path",
        band_index_map={f"A{i:02d}": i for i in range(64)},
        bbox_columns={
            "minx": "wgs84_west",
            "miny": "wgs84_south",
            "maxx": "wgs84_east",
            "maxy": "wgs84_north",
        },
        separate_files=False,
        spatial_coverage="global",
        temporal_range=("2018-01-01", "2023-12-31"),
        license="CC-BY-4.0",
        cloud_config={
            "provider": "aws",
            "region": "us-west-2",
            "url_patterns": {
                "s3://us-west-2.opendata.source.coop/": (mirror),
            },
        },
    )
    return descriptor
