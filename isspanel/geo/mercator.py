"""Web Mercator, the map's projection, and its inverse: degrees to metres and back.

The server projects every position once (a row's ``x``, ``y``); a page turns a click on the
map back into a place (``lat_lon``); ``static/readouts.js`` projects its circles with the
same constants (passed in as ``args``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

R_MERCATOR = 6378137.0  # the sphere's radius, metres (EPSG:3857)
MAX_LAT = 85.0511  # the projection's edge: the map is square
HALF_WIDTH = R_MERCATOR * math.pi  # half the map's width: longitude 180°


def mercator(lon: float, lat: float) -> tuple[float, float]:
    """(x, y) in metres of a point at ``lon``, ``lat`` degrees; latitude clamped to the map."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = math.radians(lon) * R_MERCATOR
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * R_MERCATOR
    return x, y


def lat_lon(x: float, y: float) -> tuple[float, float]:
    """A point of the map (metres) as latitude, longitude; the longitude wrapped to ±180°."""
    lat = math.degrees(2 * math.atan(math.exp(y / R_MERCATOR)) - math.pi / 2)
    lon = (math.degrees(x / R_MERCATOR) + 180.0) % 360.0 - 180.0
    return lat, lon


def project(
    lons: Sequence[Sequence[float]], lats: Sequence[Sequence[float]]
) -> tuple[list[list[float]], list[list[float]]]:
    """Parts of lines or rings (a list of longitudes and one of latitudes each) in metres."""
    out_x, out_y = [], []
    for part_lons, part_lats in zip(lons, lats, strict=True):
        points = [mercator(lon, lat) for lon, lat in zip(part_lons, part_lats, strict=True)]
        out_x.append([p[0] for p in points])
        out_y.append([p[1] for p in points])
    return out_x, out_y
