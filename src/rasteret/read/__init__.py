"""Reading pixels: plan every block of a call, fetch them in one go, assemble outputs.

Public functions take a Collection (or a list of RecordRef) first; Collection methods of the
same names delegate here.
"""

from rasteret.read.api import (
    aget_gdf,
    aget_numpy,
    aget_xarray,
    asample_points,
    get_gdf,
    get_numpy,
    get_xarray,
    sample_points,
)
from rasteret.read.chips import aread_window, read_window
from rasteret.read.points import POINT_SAMPLES_SCHEMA

__all__ = [
    "POINT_SAMPLES_SCHEMA",
    "aget_gdf",
    "aget_numpy",
    "aget_xarray",
    "aread_window",
    "asample_points",
    "get_gdf",
    "get_numpy",
    "get_xarray",
    "read_window",
    "sample_points",
]
