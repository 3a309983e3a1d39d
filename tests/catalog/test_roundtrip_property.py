"""Property: any valid descriptor survives JSON export/import and the local registry file."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasteret import DatasetDescriptor
from rasteret.catalog import load_local_descriptors, save_local_descriptor

part = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
code = st.text(min_size=1, max_size=8).filter(str.strip)
lon = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-90, 90, allow_nan=False)
day = st.dates().map(lambda d: d.isoformat())


@st.composite
def descriptors(draw: st.DrawFn) -> DatasetDescriptor:
    x0, x1 = sorted(draw(st.lists(lon, min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(lat, min_size=2, max_size=2, unique=True)))
    start, end = sorted(draw(st.lists(day, min_size=2, max_size=2)))
    bands = draw(st.dictionaries(code, code, min_size=1, max_size=6))
    indices = draw(st.none() | st.just({b: i for i, b in enumerate(bands)}))
    return DatasetDescriptor(
        id=f"{draw(part)}/{draw(part)}",
        name=draw(st.text(max_size=20)),
        description=draw(st.text(max_size=40)),
        band_map=bands,
        band_index_map=indices,
        example_bbox=(x0, y0, x1, y1),
        temporal_range=(start, draw(st.sampled_from([end, "present"]))),
        commercial_use=draw(st.booleans()),
        cloud_config=draw(st.none() | st.fixed_dictionaries({"region": st.just("eu-west-1")})),
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(descriptor=descriptors())
def test_json_round_trip(descriptor: DatasetDescriptor, tmp_path: Path) -> None:
    again = DatasetDescriptor(**json.loads(json.dumps(descriptor.to_dict())))
    assert again == descriptor
    path = tmp_path / "datasets.local.json"  # shared by all examples: saves upsert by id
    save_local_descriptor(descriptor, path)
    assert {d.id: d for d in load_local_descriptors(path)}[descriptor.id] == descriptor
