"""What the ISS is over: a country from the bundled Natural Earth outlines, else a water body.

Countries come from ``isspanel/data/land_110m.geojson`` (Natural Earth 1:110m admin-0,
simplified to 0.1°, so a point within ~10 km of a coast may land on the wrong side).
Natural Earth's marine areas are not bundled: no package on PyPI ships them, and nothing is
downloaded. Water is therefore named by coarse rules of thumb (the five oceans split along
conventional meridians and parallels, plus the Mediterranean, Black and Caspian seas), good
in open water and approximate near the boundaries between basins.
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass

from isspanel.geo.land import DATA_PATH

ARCTIC_CIRCLE = 66.56
SOUTHERN_OCEAN = -60.0  # its northern limit (IHO, 2000)
# Southern hemisphere: the Atlantic/Indian limit at Cape Agulhas, the Indian/Pacific one at
# South East Cape (Tasmania), the Pacific/Atlantic one at Cape Horn.
AGULHAS, TASMANIA, CAPE_HORN = 20.0, 146.9, -67.3
# North of the equator the Americas part the Atlantic from the Pacific: a line along the
# isthmus, (latitude, longitude) pairs; water west of it is Pacific.
ISTHMUS = [(0.0, -77.0), (7.5, -77.0), (8.0, -77.5), (9.0, -84.0), (11.0, -84.7),
           (13.0, -86.0), (15.0, -90.0), (16.0, -91.0), (18.0, -98.0), (20.0, -101.0),
           (23.0, -102.0), (30.0, -104.0)]  # fmt: skip


@dataclass(frozen=True)
class Over:
    kind: str  # "land" or "water"
    name: str  # the country, or the ocean or sea

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class _Polygon:
    name: str
    bbox: tuple[float, float, float, float]  # lon min, lat min, lon max, lat max
    rings: tuple[tuple[tuple[float, float], ...], ...]  # exterior first, then holes


@functools.cache
def _countries() -> tuple[_Polygon, ...]:
    with open(DATA_PATH, encoding="utf-8") as f:
        features = json.load(f)["features"]
    polygons = []
    for feature in features:
        geometry = feature["geometry"]
        parts = geometry["coordinates"]
        for polygon in [parts] if geometry["type"] == "Polygon" else parts:
            rings = tuple(tuple((p[0], p[1]) for p in ring) for ring in polygon)
            lons = [p[0] for p in rings[0]]
            lats = [p[1] for p in rings[0]]
            bbox = (min(lons), min(lats), max(lons), max(lats))
            polygons.append(_Polygon(feature["properties"].get("name", "land"), bbox, rings))
    return tuple(polygons)


def preload() -> None:
    """Read the country outlines now (~15 ms), not on the first lookup's path."""
    _countries()


def _inside(ring: tuple[tuple[float, float], ...], lon: float, lat: float) -> bool:
    """Even-odd ray casting in the lon/lat plane."""
    inside = False
    x1, y1 = ring[-1]
    for x2, y2 in ring:
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
        x1, y1 = x2, y2
    return inside


def country_at(lat: float, lon: float) -> str | None:
    """The Natural Earth country under (lat, lon), or None over water."""
    for poly in _countries():
        x0, y0, x1, y1 = poly.bbox
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            continue
        if _inside(poly.rings[0], lon, lat) and not any(
            _inside(hole, lon, lat) for hole in poly.rings[1:]
        ):
            return poly.name
    return None


def _isthmus_lon(lat: float) -> float:
    for (la0, lo0), (la1, lo1) in itertools.pairwise(ISTHMUS):
        if lat <= la1:
            return lo0 + (lo1 - lo0) * (lat - la0) / (la1 - la0)
    return ISTHMUS[-1][1]


def water_at(lat: float, lon: float) -> str:
    """The ocean or sea at (lat, lon), by the coarse rules above (assumes it is water)."""
    if lat <= SOUTHERN_OCEAN:
        return "Southern Ocean"
    if lat >= ARCTIC_CIRCLE:
        return "Arctic Ocean"
    if lat < 0:
        if CAPE_HORN <= lon < AGULHAS:
            return "Atlantic Ocean"
        return "Indian Ocean" if AGULHAS <= lon < TASMANIA else "Pacific Ocean"
    if 36.0 <= lat <= 47.5 and 46.0 <= lon <= 55.5:
        return "Caspian Sea"
    if 40.8 <= lat <= 47.5 and 27.3 <= lon <= 42.0:
        return "Black Sea"
    if 30.0 <= lat <= 46.0 and -5.6 <= lon <= 36.5 and not (lat > 43.0 and lon < 0.0):
        return "Mediterranean Sea"
    if AGULHAS <= lon < 100.0 and lat < 30.0:
        return "Indian Ocean"
    if lon >= 100.0 or lon < _isthmus_lon(lat):
        return "Pacific Ocean"
    return "Atlantic Ocean"


def over(lat: float, lon: float) -> Over:
    """The country under (lat, lon), else the ocean or sea."""
    if not -180.0 <= lon <= 180.0:
        lon = (lon + 180.0) % 360.0 - 180.0
    country = country_at(lat, lon)
    if country is not None:
        return Over("land", country)
    return Over("water", water_at(lat, lon))
