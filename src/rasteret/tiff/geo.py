"""GeoTIFF georeferencing: GeoKeys to a pyproj CRS, model tags to an Affine, GDAL's own tags.

Follows what GDAL does when it opens the same file, so results equal rasterio's:
EPSG codes are looked up; user-defined geographic and projected CRSs are assembled as PROJJSON
from the datum / ellipsoid / prime meridian keys and the projection method and parameters
(``ProjCoordTransGeoKey`` codes of the GeoTIFF spec, or an EPSG conversion code); an
"ESRI PE String" citation (GDAL writes one for projections GeoTIFF keys cannot express) wins
over the keys. PixelIsPoint files are shifted by half a pixel like GDAL does by default.
A CRS that cannot be built gives ``None`` and a warning, never a failed open.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS
from pyproj.crs import CoordinateOperation, Datum, Ellipsoid, PrimeMeridian

USER_DEFINED = 32767

# GeoKey ids
GT_MODEL_TYPE = 1024
GT_RASTER_TYPE = 1025
GT_CITATION = 1026
GEOGRAPHIC_TYPE = 2048
GEOG_CITATION = 2049
GEOG_DATUM = 2050
GEOG_PRIME_MERIDIAN = 2051
GEOG_LINEAR_UNITS = 2052
GEOG_LINEAR_UNIT_SIZE = 2053
GEOG_ANGULAR_UNITS = 2054
GEOG_ANGULAR_UNIT_SIZE = 2055
GEOG_ELLIPSOID = 2056
GEOG_SEMI_MAJOR = 2057
GEOG_SEMI_MINOR = 2058
GEOG_INV_FLATTENING = 2059
GEOG_PM_LONGITUDE = 2061
GEOG_TOWGS84 = 2062
PROJECTED_TYPE = 3072
PCS_CITATION = 3073
PROJECTION = 3074
PROJ_COORD_TRANS = 3075
PROJ_LINEAR_UNITS = 3076
PROJ_LINEAR_UNIT_SIZE = 3077
STD_PARALLEL1 = 3078
STD_PARALLEL2 = 3079
NAT_ORIGIN_LONG = 3080
NAT_ORIGIN_LAT = 3081
FALSE_EASTING = 3082
FALSE_NORTHING = 3083
FALSE_ORIGIN_LONG = 3084
FALSE_ORIGIN_LAT = 3085
FALSE_ORIGIN_EASTING = 3086
FALSE_ORIGIN_NORTHING = 3087
CENTER_LONG = 3088
CENTER_LAT = 3089
CENTER_EASTING = 3090
CENTER_NORTHING = 3091
SCALE_AT_NAT_ORIGIN = 3092
SCALE_AT_CENTER = 3093
AZIMUTH = 3094
STRAIGHT_VERT_POLE_LONG = 3095
RECTIFIED_GRID_ANGLE = 3096

MODEL_PROJECTED = 1
MODEL_GEOGRAPHIC = 2
RASTER_PIXEL_IS_POINT = 2

ESRI_PE_PREFIX = "ESRI PE String = "

GeoKeys = dict[int, Any]


@dataclass(frozen=True)
class Georeference:
    """What the geo tags of the first IFD say."""

    crs: CRS | None
    transform: Affine
    pixel_is_point: bool = False
    keys: GeoKeys = field(default_factory=dict)


# --- GeoKey directory ------------------------------------------------------------------------


def parse_geokeys(
    directory: Sequence[int] | None,
    doubles: Sequence[float] | None,
    ascii_params: str | None,
) -> GeoKeys:
    """Decode the GeoKeyDirectory into ``{key id: value}``; malformed entries are skipped.

    SHORT values are ints, DOUBLE values floats (or tuples when several), ASCII values
    strings without the trailing ``|``.
    """
    keys: GeoKeys = {}
    if directory is None or len(directory) < 4:
        return keys
    count = int(directory[3])
    dbl = list(doubles) if doubles is not None else []
    asc = ascii_params or ""
    for i in range(min(count, (len(directory) - 4) // 4)):
        key, location, n, value = (int(v) for v in directory[4 + 4 * i : 8 + 4 * i])
        if location == 0:
            keys[key] = value
        elif location == 34736:
            if n >= 1 and value + n <= len(dbl):
                vals = tuple(float(v) for v in dbl[value : value + n])
                keys[key] = vals[0] if n == 1 else vals
        elif location == 34737:
            if value + n <= len(asc):
                keys[key] = asc[value : value + n].rstrip("|\x00")
        elif location == 34735 and value + n <= len(directory):
            keys[key] = tuple(int(v) for v in directory[value : value + n])
    return keys


# --- transform -------------------------------------------------------------------------------


def model_transform(
    scale: Sequence[float] | None,
    tiepoints: Sequence[float] | None,
    matrix: Sequence[float] | None,
    pixel_is_point: bool,
) -> Affine:
    """The pixel-is-area affine GDAL derives from the model tags (identity when absent)."""
    if matrix is not None and len(matrix) >= 16:
        m = [float(v) for v in matrix[:16]]
        a, b, c, d, e, f = m[0], m[1], m[3], m[4], m[5], m[7]
    elif tiepoints is not None and len(tiepoints) == 6 and scale is not None and len(scale) >= 2:
        i, j, _, x, y, _ = (float(v) for v in tiepoints)
        a, b, d, e = float(scale[0]), 0.0, 0.0, -float(scale[1])
        c = x - i * a
        f = y - j * e
    else:
        return Affine.identity()
    if pixel_is_point:
        c -= a * 0.5 + b * 0.5
        f -= d * 0.5 + e * 0.5
    values = (a, b, c, d, e, f)
    if not all(math.isfinite(v) for v in values):
        return Affine.identity()
    return Affine(*values)


# --- CRS -------------------------------------------------------------------------------------


def crs_from_geokeys(keys: Mapping[int, Any], source: str = "") -> CRS | None:
    """The CRS GDAL would report for these GeoKeys, or None (with a warning if undecodable)."""
    if not keys:
        return None
    try:
        return _crs_from_geokeys(keys)
    except Exception as exc:  # noqa: BLE001 - any failure means "no CRS", reported below
        warnings.warn(
            f"{source}: the GeoTIFF keys do not describe a CRS rasteret can build ({exc}); "
            "the CRS is left unset",
            stacklevel=3,
        )
        return None


def _crs_from_geokeys(keys: Mapping[int, Any]) -> CRS | None:
    for citation_key in (PCS_CITATION, GT_CITATION, GEOG_CITATION):
        text = keys.get(citation_key)
        if isinstance(text, str) and text.startswith(ESRI_PE_PREFIX):
            return CRS.from_wkt(text[len(ESRI_PE_PREFIX) :])
    model = keys.get(GT_MODEL_TYPE)
    if model is None:
        model = MODEL_PROJECTED if PROJECTED_TYPE in keys else MODEL_GEOGRAPHIC
    if model == MODEL_PROJECTED:
        code = keys.get(PROJECTED_TYPE)
        if _is_code(code):
            return CRS.from_epsg(code)
        return CRS.from_json_dict(_bound(_projected_json(keys), keys))
    if model == MODEL_GEOGRAPHIC:
        code = keys.get(GEOGRAPHIC_TYPE)
        if _is_code(code):
            return CRS.from_epsg(code)
        return CRS.from_json_dict(_bound(_geographic_json(keys), keys))
    if model == USER_DEFINED:
        return None
    raise ValueError(f"GTModelTypeGeoKey {model} is not supported")


def _is_code(value: Any) -> bool:
    return isinstance(value, int) and 0 < value < USER_DEFINED


def _number(keys: Mapping[int, Any], key: int) -> float | None:
    value = keys.get(key)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


@lru_cache(maxsize=8)
def _unit_factors(category: str) -> dict[int, tuple[str, float]]:
    from pyproj import get_units_map

    out: dict[int, tuple[str, float]] = {}
    for unit in get_units_map(auth_name="EPSG", category=category).values():
        out[int(unit.code)] = (unit.name, float(unit.conv_factor))
    return out


def _linear_unit(keys: Mapping[int, Any], code_key: int, size_key: int) -> tuple[str, float, int]:
    """(name, metres per unit, EPSG code or 0) of a linear unit key."""
    code = keys.get(code_key)
    if _is_code(code):
        known = _unit_factors("linear").get(code)
        if known is None:
            raise ValueError(f"unknown EPSG linear unit {code}")
        return known[0], known[1], code
    size = _number(keys, size_key)
    if size and size > 0:
        return "unknown", size, 0
    return "metre", 1.0, 9001


def _angular_factor(keys: Mapping[int, Any]) -> float:
    """Degrees per unit of the geographic angular unit."""
    code = keys.get(GEOG_ANGULAR_UNITS)
    if code in (9102, 9122, None):  # degree: exact, no round trip through radians
        return 1.0
    if _is_code(code):
        known = _unit_factors("angular").get(code)
        if known is None:
            raise ValueError(f"unknown EPSG angular unit {code}")
        return math.degrees(known[1])
    size = _number(keys, GEOG_ANGULAR_UNIT_SIZE)
    return math.degrees(size) if size and size > 0 else 1.0


def _without_schema(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "$schema"}


def _geographic_json(keys: Mapping[int, Any]) -> dict[str, Any]:
    code = keys.get(GEOGRAPHIC_TYPE)
    if _is_code(code):
        return _without_schema(CRS.from_epsg(code).to_json_dict())
    datum_code = keys.get(GEOG_DATUM)
    if _is_code(datum_code):
        datum = _without_schema(Datum.from_epsg(datum_code).to_json_dict())
    else:
        datum = {
            "type": "GeodeticReferenceFrame",
            "name": _citation_part(keys.get(GEOG_CITATION), "Datum") or "unknown",
            "ellipsoid": _ellipsoid_json(keys),
        }
    pm = _prime_meridian_json(keys)
    if pm is not None:
        datum["prime_meridian"] = pm
    degree = {"type": "AngularUnit", "name": "degree", "conversion_factor": math.pi / 180}
    return {
        "type": "GeographicCRS",
        "name": _citation_part(keys.get(GEOG_CITATION), "GCS Name") or "unknown",
        "datum_ensemble" if datum.get("type") == "DatumEnsemble" else "datum": datum,
        "coordinate_system": {
            "subtype": "ellipsoidal",
            "axis": [
                {"name": "Latitude", "abbreviation": "lat", "direction": "north", "unit": degree},
                {"name": "Longitude", "abbreviation": "lon", "direction": "east", "unit": degree},
            ],
        },
    }


def _ellipsoid_json(keys: Mapping[int, Any]) -> dict[str, Any]:
    code = keys.get(GEOG_ELLIPSOID)
    if _is_code(code):
        return _without_schema(Ellipsoid.from_epsg(code).to_json_dict())
    _, metres, _ = _linear_unit(keys, GEOG_LINEAR_UNITS, GEOG_LINEAR_UNIT_SIZE)
    a = _number(keys, GEOG_SEMI_MAJOR)
    if a is None or a <= 0:
        raise ValueError("user-defined ellipsoid without a semi-major axis")
    a *= metres
    name = _citation_part(keys.get(GEOG_CITATION), "Ellipsoid") or "unknown"
    rf = _number(keys, GEOG_INV_FLATTENING)
    b = _number(keys, GEOG_SEMI_MINOR)
    if rf is not None and rf > 0:
        return {"name": name, "semi_major_axis": a, "inverse_flattening": rf}
    if b is not None and b > 0 and b * metres != a:
        return {"name": name, "semi_major_axis": a, "semi_minor_axis": b * metres}
    return {"name": name, "radius": a}


def _prime_meridian_json(keys: Mapping[int, Any]) -> dict[str, Any] | None:
    code = keys.get(GEOG_PRIME_MERIDIAN)
    if _is_code(code):
        return _without_schema(PrimeMeridian.from_epsg(code).to_json_dict())
    lon = _number(keys, GEOG_PM_LONGITUDE)
    if lon:
        name = _citation_part(keys.get(GEOG_CITATION), "Primem") or "unknown"
        return {"name": name, "longitude": lon * _angular_factor(keys)}
    return None


def _name(citation: Any) -> str:
    return citation if isinstance(citation, str) and citation else "unknown"


def _citation_part(citation: Any, label: str) -> str | None:
    """Value of ``label = value`` inside GDAL's ``a|b = c|...`` geographic citation."""
    if not isinstance(citation, str):
        return None
    for part in citation.split("|"):
        name, sep, value = part.partition(" = ")
        if sep and name.strip() == label and value.strip():
            return value.strip()
    return None


def _projected_json(keys: Mapping[int, Any]) -> dict[str, Any]:
    base = _geographic_json(keys)
    conversion_code = keys.get(PROJECTION)
    if _is_code(conversion_code):
        conversion = _without_schema(CoordinateOperation.from_epsg(conversion_code).to_json_dict())
    else:
        conversion = _conversion_json(keys)
    unit_name, metres, unit_code = _linear_unit(keys, PROJ_LINEAR_UNITS, PROJ_LINEAR_UNIT_SIZE)
    if unit_code == 9001:
        unit: Any = "metre"
    else:
        unit = {"type": "LinearUnit", "name": unit_name, "conversion_factor": metres}
        if unit_code:
            unit["id"] = {"authority": "EPSG", "code": unit_code}
    east, north = _axis_directions(keys)
    return {
        "type": "ProjectedCRS",
        "name": _name(keys.get(GT_CITATION)),
        "base_crs": base,
        "conversion": conversion,
        "coordinate_system": {
            "subtype": "Cartesian",
            "axis": [
                {"name": "Easting", "abbreviation": "E", "direction": east, "unit": unit},
                {"name": "Northing", "abbreviation": "N", "direction": north, "unit": unit},
            ],
        },
    }


def _axis_directions(keys: Mapping[int, Any]) -> tuple[str, str]:
    """Axis directions GDAL gives: south-oriented TM, and polar stereographic like EPSG's."""
    ct = keys.get(PROJ_COORD_TRANS)
    if ct == 27:
        return "west", "south"
    if ct == 15:
        lat = next((v for v in (_number(keys, k) for k in _POLAR["lat0"]) if v is not None), 90.0)
        return ("south", "south") if lat > 0 else ("north", "north")
    return "east", "north"


# Key search orders by the kind of origin a projection method uses (as libgeotiff does).
_NAT = {
    "lat0": (NAT_ORIGIN_LAT, FALSE_ORIGIN_LAT, CENTER_LAT),
    "lon0": (NAT_ORIGIN_LONG, FALSE_ORIGIN_LONG, CENTER_LONG, STRAIGHT_VERT_POLE_LONG),
    "fe": (FALSE_EASTING, FALSE_ORIGIN_EASTING, CENTER_EASTING),
    "fn": (FALSE_NORTHING, FALSE_ORIGIN_NORTHING, CENTER_NORTHING),
    "k": (SCALE_AT_NAT_ORIGIN, SCALE_AT_CENTER),
}
_ORIGIN = {
    **_NAT,
    "lat0": (FALSE_ORIGIN_LAT, NAT_ORIGIN_LAT, CENTER_LAT),
    "lon0": (FALSE_ORIGIN_LONG, NAT_ORIGIN_LONG, CENTER_LONG),
    "fe": (FALSE_ORIGIN_EASTING, FALSE_EASTING, CENTER_EASTING),
    "fn": (FALSE_ORIGIN_NORTHING, FALSE_NORTHING, CENTER_NORTHING),
}
_CENTER = {
    **_NAT,
    "lat0": (CENTER_LAT, NAT_ORIGIN_LAT, FALSE_ORIGIN_LAT),
    "lon0": (CENTER_LONG, NAT_ORIGIN_LONG, FALSE_ORIGIN_LONG),
    "fe": (FALSE_EASTING, CENTER_EASTING, FALSE_ORIGIN_EASTING),
    "fn": (FALSE_NORTHING, CENTER_NORTHING, FALSE_ORIGIN_NORTHING),
    "k": (SCALE_AT_CENTER, SCALE_AT_NAT_ORIGIN),
}
_POLAR = {**_NAT, "lon0": (STRAIGHT_VERT_POLE_LONG, NAT_ORIGIN_LONG, FALSE_ORIGIN_LONG)}

# ProjCoordTransGeoKey -> (PROJ name, key search orders, PROJ parameters in order)
_METHODS: dict[int, tuple[str, dict[str, tuple[int, ...]], tuple[str, ...]]] = {
    1: ("tmerc", _NAT, ("lat0", "lon0", "k", "fe", "fn")),
    27: ("tmerc +axis=wsu", _NAT, ("lat0", "lon0", "k", "fe", "fn")),
    8: ("lcc", _ORIGIN, ("lat1", "lat2", "lat0", "lon0", "fe", "fn")),
    9: ("lcc", _NAT, ("lat1=lat0", "lat0", "lon0", "k", "fe", "fn")),
    10: ("laea", _CENTER, ("lat0", "lon0", "fe", "fn")),
    11: ("aea", _NAT, ("lat1", "lat2", "lat0", "lon0", "fe", "fn")),
    12: ("aeqd", _CENTER, ("lat0", "lon0", "fe", "fn")),
    13: ("eqdc", _NAT, ("lat1", "lat2", "lat0", "lon0", "fe", "fn")),
    14: ("stere", _CENTER, ("lat0", "lon0", "k", "fe", "fn")),
    16: ("sterea", _NAT, ("lat0", "lon0", "k", "fe", "fn")),
    17: ("eqc", _CENTER, ("lat_ts", "lat0", "lon0", "fe", "fn")),
    18: ("cass", _NAT, ("lat0", "lon0", "fe", "fn")),
    19: ("gnom", _CENTER, ("lat0", "lon0", "fe", "fn")),
    20: ("mill", _CENTER, ("lat0", "lon0", "fe", "fn")),
    21: ("ortho", _CENTER, ("lat0", "lon0", "fe", "fn")),
    22: ("poly", _NAT, ("lat0", "lon0", "fe", "fn")),
    23: ("robin", _CENTER, ("lon0", "fe", "fn")),
    24: ("sinu", _CENTER, ("lon0", "fe", "fn")),
    25: ("vandg", _CENTER, ("lon0", "fe", "fn")),
    26: ("nzmg", _NAT, ("lat0", "lon0", "fe", "fn")),
    28: ("cea", _NAT, ("lat_ts", "lon0", "fe", "fn")),
}
_PROJ_PARAM = {
    "lat0": "lat_0",
    "lon0": "lon_0",
    "lat1": "lat_1",
    "lat2": "lat_2",
    "lat_ts": "lat_ts",
    "k": "k_0",
    "fe": "x_0",
    "fn": "y_0",
}
_ANGULAR_ROLES = frozenset({"lat0", "lon0", "lat1", "lat2", "lat_ts", "alpha", "gamma"})


def _conversion_json(keys: Mapping[int, Any]) -> dict[str, Any]:
    ct = keys.get(PROJ_COORD_TRANS)
    degrees = _angular_factor(keys)
    _, metres, _ = _linear_unit(keys, PROJ_LINEAR_UNITS, PROJ_LINEAR_UNIT_SIZE)

    def value(order: Mapping[str, tuple[int, ...]], role: str) -> float:
        lookup = {
            "lat1": (STD_PARALLEL1,),
            "lat2": (STD_PARALLEL2,),
            "lat_ts": (STD_PARALLEL1,),
            "alpha": (AZIMUTH,),
            "gamma": (RECTIFIED_GRID_ANGLE, AZIMUTH),
        }.get(role) or order[role]
        found = next((v for v in (_number(keys, k) for k in lookup) if v is not None), None)
        default = 1.0 if role == "k" else 0.0
        if found is None:
            return default
        if role in _ANGULAR_ROLES:
            return found * degrees
        if role in ("fe", "fn"):
            return found * metres
        return found

    if ct == 7:  # Mercator: 2SP when a standard parallel is given, else 1SP
        stdp = _number(keys, STD_PARALLEL1)
        if stdp:
            proj = f"+proj=merc +lat_ts={stdp * degrees!r} +lon_0={value(_NAT, 'lon0')!r}"
        else:
            proj = f"+proj=merc +lon_0={value(_NAT, 'lon0')!r} +k_0={value(_NAT, 'k')!r}"
        proj += f" +x_0={value(_NAT, 'fe')!r} +y_0={value(_NAT, 'fn')!r}"
    elif ct == 15:  # Polar stereographic: variant A at a pole, else variant B (lat_ts)
        lat = value(_POLAR, "lat0")
        lon = value(_POLAR, "lon0")
        if abs(abs(lat) - 90.0) < 1e-9:
            lat = math.copysign(90.0, lat)
            proj = f"+proj=stere +lat_0={lat!r} +lon_0={lon!r} +k_0={value(_POLAR, 'k')!r}"
        else:
            pole = 90.0 if lat > 0 else -90.0
            proj = f"+proj=stere +lat_0={pole!r} +lat_ts={lat!r} +lon_0={lon!r}"
        proj += f" +x_0={value(_POLAR, 'fe')!r} +y_0={value(_POLAR, 'fn')!r}"
    elif ct in (3, 9815):  # Hotine oblique mercator: 3 = variant A, 9815 = variant B
        proj = (
            f"+proj=omerc +lat_0={value(_CENTER, 'lat0')!r} +lonc={value(_CENTER, 'lon0')!r}"
            f" +alpha={value(_CENTER, 'alpha')!r} +gamma={value(_CENTER, 'gamma')!r}"
            f" +k_0={value(_CENTER, 'k')!r} +x_0={value(_CENTER, 'fe')!r}"
            f" +y_0={value(_CENTER, 'fn')!r}" + (" +no_uoff" if ct == 3 else "")
        )
    elif ct in _METHODS:
        name, order, roles = _METHODS[ct]
        parts = [f"+proj={name}"]
        for role in roles:
            target, _, source = role.partition("=")
            parts.append(f"+{_PROJ_PARAM[target]}={value(order, source or target)!r}")
        proj = " ".join(parts)
    else:
        raise ValueError(f"ProjCoordTransGeoKey {ct} is not supported")
    crs = CRS.from_proj4(f"{proj} +ellps=WGS84 +units=m +no_defs +type=crs")
    return _without_schema(crs.to_json_dict()["conversion"])


def _bound(crs_json: dict[str, Any], keys: Mapping[int, Any]) -> dict[str, Any]:
    """Wrap a CRS in a BoundCRS to WGS 84 when GeogTOWGS84GeoKey is present (as GDAL does)."""
    towgs84 = keys.get(GEOG_TOWGS84)
    if towgs84 is None:
        return crs_json
    values = [towgs84] if isinstance(towgs84, float) else list(towgs84)
    if len(values) not in (3, 7):
        return crs_json
    params = ",".join(repr(float(v)) for v in values + [0.0] * (7 - len(values)))
    helper = CRS.from_proj4(f"+proj=longlat +ellps=WGS84 +towgs84={params} +type=crs")
    helper_json = helper.to_json_dict()
    return {
        "type": "BoundCRS",
        "source_crs": crs_json,
        "target_crs": helper_json["target_crs"],
        "transformation": helper_json["transformation"],
    }


# --- GDAL tags -------------------------------------------------------------------------------


def parse_nodata(text: str | None) -> float | None:
    """GDAL_NODATA as a float (``nan`` and ``inf`` allowed), or None."""
    if not text:
        return None
    cleaned = text.strip("\x00 \t\r\n")
    try:
        return float(cleaned)
    except ValueError:
        return None


@dataclass(frozen=True)
class GdalMetadata:
    """Per-band scale/offset/description and dataset-level items from GDAL_METADATA."""

    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    descriptions: tuple[str, ...]
    items: dict[str, str]


def parse_gdal_metadata(text: str | None, count: int) -> GdalMetadata:
    """Parse GDAL's ``<GDALMetadata>`` XML (absent or malformed: defaults)."""
    scales = [1.0] * count
    offsets = [0.0] * count
    descriptions = [""] * count
    items: dict[str, str] = {}
    if text:
        try:
            root = ET.fromstring(text.strip("\x00 \t\r\n"))
        except ET.ParseError:
            root = None
        for item in root.iter("Item") if root is not None else ():
            name = item.get("name", "")
            value = item.text or ""
            sample = item.get("sample")
            role = (item.get("role") or "").lower()
            if sample is None:
                if item.get("domain") is None and name:
                    items[name] = value
                continue
            try:
                band = int(sample)
            except ValueError:
                continue
            if not 0 <= band < count:
                continue
            try:
                if role == "scale":
                    scales[band] = float(value)
                elif role == "offset":
                    offsets[band] = float(value)
            except ValueError:
                continue
            if role == "description":
                descriptions[band] = value
    return GdalMetadata(tuple(scales), tuple(offsets), tuple(descriptions), items)


def georeference(
    scale: np.ndarray | None,
    tiepoints: np.ndarray | None,
    matrix: np.ndarray | None,
    keys: GeoKeys,
    source: str = "",
) -> Georeference:
    """CRS and transform of the full-resolution image."""
    point = keys.get(GT_RASTER_TYPE) == RASTER_PIXEL_IS_POINT
    transform = model_transform(scale, tiepoints, matrix, point)
    return Georeference(crs_from_geokeys(keys, source), transform, point, dict(keys))
