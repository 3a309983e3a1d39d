"""The pgstac-backed STAC API answers pystac-client searches correctly, and stops cleanly."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from pystac_client import Client
from pystac_client.warnings import DoesNotConformTo

from tests.servers.stac import StacApiServer
from tests.servers_selftest.conftest import assert_stopped

COLLECTION = "selftest-stac"
# Cloud covers chosen so that lexicographic and numeric order differ (2.5 < 10.0 < 100.0).
CLOUD = [55.0, 2.5, 100.0, 10.0, 0.0, 19.9, 20.0, 71.3, 3.0, 45.5, 88.8, 12.0, 9.9, 60.0]


def collection(cid: str = COLLECTION) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "description": "self-test collection",
        "license": "CC0-1.0",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[10.0, 40.0, 14.0, 42.0]]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"]]},
        },
    }


def item(i: int, cid: str = COLLECTION) -> dict:
    """Item i: a 0.5-degree square stepping east, one every 20 days from 2024-01-05."""
    x0 = 10.0 + 0.25 * i
    box = [x0, 40.0, x0 + 0.5, 40.5]
    ring = [
        [box[0], box[1]],
        [box[2], box[1]],
        [box[2], box[3]],
        [box[0], box[3]],
        [box[0], box[1]],
    ]
    when = dt.datetime(2024, 1, 5, 10, 0, tzinfo=dt.UTC) + dt.timedelta(days=20 * i)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "id": f"{cid}-{i:02d}",
        "collection": cid,
        "bbox": box,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eo:cloud_cover": CLOUD[i],
        },
        "links": [],
        "assets": {
            "B04": {
                "href": f"http://127.0.0.1:9/b04-{i}.tif",
                "type": "image/tiff",
                "roles": ["data"],
            }
        },
    }


ITEMS = [item(i) for i in range(len(CLOUD))]


def ids(items) -> list[str]:
    return sorted(i.id if hasattr(i, "id") else i["id"] for i in items)


@pytest.fixture(scope="module")
def client(stac_server: StacApiServer) -> Client:
    stac_server.add_collections([collection()])
    stac_server.add_items(ITEMS)
    return Client.open(stac_server.url)


def search(client: Client, **kw) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoesNotConformTo)
        return ids(client.search(collections=[COLLECTION], **kw).items())


def test_bbox_and_intersects(client: Client):
    # Items whose box [x0, x0 + 0.5] overlaps [11.1, 11.2] in longitude.
    expected = ids(i for i in ITEMS if i["bbox"][0] <= 11.2 and i["bbox"][2] >= 11.1)
    assert len(expected) == 2
    assert search(client, bbox=[11.1, 40.1, 11.2, 40.2]) == expected
    point = {"type": "Point", "coordinates": [11.15, 40.15]}
    assert search(client, intersects=point) == expected


def test_datetime_range(client: Client):
    start, end = "2024-03-01T00:00:00Z", "2024-06-30T23:59:59Z"
    expected = ids(i for i in ITEMS if start <= i["properties"]["datetime"] <= end)
    assert 0 < len(expected) < len(ITEMS)
    assert search(client, datetime="2024-03-01/2024-06-30") == expected


def test_query_and_cql2_filters_are_numeric(client: Client):
    expected = ids(i for i in ITEMS if i["properties"]["eo:cloud_cover"] < 20)
    assert len(expected) == 7
    assert search(client, query={"eo:cloud_cover": {"lt": 20}}) == expected
    cql2 = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]}
    assert search(client, filter=cql2, filter_lang="cql2-json") == expected
    text = '"eo:cloud_cover" < 20'
    assert search(client, filter=text, filter_lang="cql2-text", method="GET") == expected


def test_sortby_is_numeric(client: Client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoesNotConformTo)
        found = client.search(
            collections=[COLLECTION], sortby="+properties.eo:cloud_cover", max_items=5
        ).items()
        got = [i.properties["eo:cloud_cover"] for i in found]
    assert got == sorted(CLOUD)[:5]


def test_paging(client: Client):
    pages = list(client.search(collections=[COLLECTION], limit=4).pages())
    assert [len(p.items) for p in pages] == [4, 4, 4, 2]
    assert ids(i for p in pages for i in p.items) == ids(ITEMS)


def test_items_added_later_are_searchable(stac_server: StacApiServer, client: Client):
    stac_server.add_items([item(len(CLOUD) - 1) | {"id": "selftest-stac-late"}])
    assert "selftest-stac-late" in search(client, ids=["selftest-stac-late"])


def test_constructor_loads_data_and_stop_cleans_up():
    server = StacApiServer(
        items=[item(0, "selftest-own")], collections=[collection("selftest-own")]
    )
    server.start()
    pids, ports, workdir = server.pids, (server.port, server.pg_port), server.workdir
    try:
        found = Client.open(server.url).search(collections=["selftest-own"]).items()
        assert ids(found) == ["selftest-own-00"]
    finally:
        server.stop()
    assert_stopped(pids[0], ports[1], "postgres")
    assert_stopped(pids[1], ports[0], "stac-api")
    assert workdir is not None and not workdir.exists()
