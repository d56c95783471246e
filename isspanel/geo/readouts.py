"""Readouts beside the ISS position: altitude, ground speed, footprint, sunlight, what it is over.

Pure functions of a TLE (or a skyfield ``EarthSatellite``) and a moment, computed offline with
skyfield (SGP4, WGS84, DE421). Distances on the ground use the 6371 km sphere, as the Flink
SQL and ``isspanel.geo.orbit`` do, so the ground speed here is the one the Flink job measures.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime

from skyfield.api import EarthSatellite, wgs84
from skyfield.timelib import Time

from isspanel.geo import places, sky
from isspanel.geo.orbit import EARTH_RADIUS_KM, Tle, great_circle_km, split_antimeridian
from isspanel.geo.quick import footprint_radius_km  # one formula for both paths

SPEED_DT_S = 1.0  # ground speed from the sub-points this far either side of the moment

Moment = float | datetime | Time  # a Unix timestamp, an aware datetime or a skyfield Time
Lines = tuple[list[list[float]], list[list[float]]]  # Bokeh multi_line xs, ys (lon, lat)


@dataclass(frozen=True)
class Readout:
    """Everything shown beside the position, with units in the names."""

    lat: float
    lon: float
    altitude_km: float
    ground_speed_kmh: float
    footprint_radius_km: float
    sunlit: bool
    over: places.Over


def _sat(tle: Tle | EarthSatellite) -> EarthSatellite:
    return tle if isinstance(tle, EarthSatellite) else sky.satellite(tle)


def subpoint(tle: Tle | EarthSatellite, when: Moment) -> tuple[float, float, float]:
    """Geodetic latitude, longitude (degrees) and height (km) under the ISS."""
    geo = _sat(tle).at(sky.at(when))
    point = wgs84.geographic_position_of(geo)
    return float(point.latitude.degrees), float(point.longitude.degrees), float(point.elevation.km)


def altitude_km(tle: Tle | EarthSatellite, when: Moment) -> float:
    """Height above the WGS84 ellipsoid."""
    return subpoint(tle, when)[2]


def ground_speed_kmh(tle: Tle | EarthSatellite, when: Moment) -> float:
    """Speed of the sub-point over the ground (the 6371 km sphere), Earth's rotation included."""
    tt = sky.at(when).tt
    ts = sky.timescale()
    half = SPEED_DT_S / 86400.0
    geo = _sat(tle).at(ts.tt_jd([tt - half, tt + half]))
    point = wgs84.geographic_position_of(geo)
    lat, lon = point.latitude.degrees, point.longitude.degrees
    km = great_circle_km(lat[0], lon[0], lat[1], lon[1])
    return float(km / (2 * SPEED_DT_S) * 3600.0)


def sunlit(tle: Tle | EarthSatellite, when: Moment) -> bool:
    """True in sunlight, False in the Earth's shadow (skyfield's ``is_sunlit`` with DE421)."""
    return bool(_sat(tle).at(sky.at(when)).is_sunlit(sky.ephemeris()))


def circle_xy(lat: float, lon: float, radius_km: float, points: int = 181) -> Lines:
    """A circle of ``radius_km`` on the sphere around (lat, lon), as lon/lat polylines.

    It is cut where it crosses ±180° (with the crossing point added on both sides, so the
    pieces reach the map's edges); a circle around a pole stays one open line.
    """
    d = radius_km / EARTH_RADIUS_KM
    p1, l1 = math.radians(lat), math.radians(lon)
    lons, lats = [], []
    for i in range(points):
        bearing = 2 * math.pi * i / (points - 1)
        p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
        l2 = l1 + math.atan2(
            math.sin(bearing) * math.sin(d) * math.cos(p1),
            math.cos(d) - math.sin(p1) * math.sin(p2),
        )
        lons.append(round((math.degrees(l2) + 180.0) % 360.0 - 180.0, 9))  # -180+1e-14: -180
        lats.append(math.degrees(p2))
    return split_antimeridian(*_with_crossings(lons, lats))


def _with_crossings(lons: list[float], lats: list[float]) -> tuple[list[float], list[float]]:
    """Add the points where the line meets ±180°, so each piece ends on the edge."""
    out_x, out_y = [lons[0]], [lats[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(zip(lons, lats, strict=True)):
        if abs(x0) == 180.0:  # a point on the edge itself: put it on the side that follows
            out_x[-1] = math.copysign(180.0, x1)
        elif abs(x1 - x0) > 180.0:
            edge = 180.0 if x0 > 0 else -180.0
            f = (edge - x0) / (x1 + 2 * edge - x0)  # x1 unwrapped to the same side as x0
            y = y0 + (y1 - y0) * f
            out_x += [edge, -edge]
            out_y += [y, y]
        out_x.append(x1)
        out_y.append(y1)
    return out_x, out_y


def footprint_xy(lat: float, lon: float, altitude_km: float) -> Lines:
    """The footprint of the ISS at (lat, lon, altitude): where it is above the horizon."""
    return circle_xy(lat, lon, footprint_radius_km(altitude_km))


def visibility_circle_xy(
    lat: float, lon: float, altitude_km: float, min_elevation_deg: float = 0.0
) -> Lines:
    """Around a place: where the ISS (at ``altitude_km``) is above its horizon (or higher)."""
    return circle_xy(lat, lon, footprint_radius_km(altitude_km, min_elevation_deg))


def readout(tle: Tle | EarthSatellite, when: Moment) -> Readout:
    """All the readouts at one moment."""
    sat = _sat(tle)
    lat, lon, alt = subpoint(sat, when)
    return Readout(
        lat=lat,
        lon=lon,
        altitude_km=alt,
        ground_speed_kmh=ground_speed_kmh(sat, when),
        footprint_radius_km=footprint_radius_km(alt),
        sunlit=sunlit(sat, when),
        over=places.over(lat, lon),
    )
