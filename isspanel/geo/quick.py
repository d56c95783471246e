"""The readouts of every position, cheap enough for the dashboard's hub to make per record.

The same quantities as ``readouts.readout`` (skyfield, ~1.7 ms a moment warm) for ~1/40 of
its cost, and without importing skyfield:

- altitude from ``orbit.subpoint``: the ``sgp4`` library, a GMST rotation, WGS84;
- ground speed from the sub-points 1 s either side, on the 6371 km sphere (as readouts does);
- sunlight from a cylindrical Earth shadow of radius 6378.137 km (skyfield's ``is_sunlit``
  tests the line to the sun against the same sphere) behind the project's own sun model
  (``orbit.subsolar_point``, within 0.05° of DE421: tests/geo/test_readouts.py). Penumbra is
  ignored: within a few seconds of the shadow's edge either answer may be the other's.

tests/dashboard/test_hub_readouts.py checks them against ``readouts.readout``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sgp4.api import Satrec

from isspanel.geo import places
from isspanel.geo.orbit import (
    EARTH_RADIUS_KM,
    WGS84_A,
    WGS84_F,
    great_circle_km,
    subpoint,
    subsolar_point,
)

SPEED_DT_S = 1.0  # as readouts.SPEED_DT_S
SHADOW_RADIUS_KM = WGS84_A
# As passes.MAX_TLE_SPAN_DAYS: SGP4 says nothing useful this far from a TLE's epoch.
MAX_TLE_SPAN_S = 365.0 * 86400


@dataclass(frozen=True)
class Quick:
    """Readouts at one moment; the TLE-based ones are None without a usable TLE."""

    altitude_km: float | None
    ground_speed_kmh: float | None
    sunlit: bool | None
    footprint_radius_km: float | None
    over: places.Over


def footprint_radius_km(altitude_km: float, min_elevation_deg: float = 0.0) -> float:
    """Ground distance from the sub-point to where the ISS is ``min_elevation_deg`` high.

    That is the footprint (the ground that sees the ISS above the horizon) and, the same
    circle seen the other way, how far from a place the ISS may be and still be seen.
    """
    if altitude_km <= 0:
        return 0.0
    e = math.radians(min_elevation_deg)
    ratio = EARTH_RADIUS_KM * math.cos(e) / (EARTH_RADIUS_KM + altitude_km)
    return EARTH_RADIUS_KM * max(0.0, math.acos(ratio) - e)


def _ecef_km(lat: float, lon: float, alt_km: float) -> tuple[float, float, float]:
    e2 = WGS84_F * (2 - WGS84_F)
    p, lam = math.radians(lat), math.radians(lon)
    n = WGS84_A / math.sqrt(1 - e2 * math.sin(p) ** 2)
    return (
        (n + alt_km) * math.cos(p) * math.cos(lam),
        (n + alt_km) * math.cos(p) * math.sin(lam),
        (n * (1 - e2) + alt_km) * math.sin(p),
    )


def sunlit(lat: float, lon: float, alt_km: float, ts: float) -> bool:
    """Is a point (geodetic lat, lon, height) outside the Earth's cylindrical shadow?"""
    sun_lat, sun_lon = subsolar_point(ts)
    p, lam = math.radians(sun_lat), math.radians(sun_lon)
    s = (math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p))
    r = _ecef_km(lat, lon, alt_km)
    along = sum(a * b for a, b in zip(r, s, strict=True))
    if along >= 0:
        return True  # on the day side of the terminator plane
    across = math.sqrt(max(0.0, sum(a * a for a in r) - along * along))
    return across > SHADOW_RADIUS_KM


def quick_readout(
    sat: Satrec | None, epoch_ts: float | None, ts: float, lat: float, lon: float
) -> Quick:
    """Readouts for a position (``lat``, ``lon``: what it is over) at ``ts``, from ``sat``.

    Altitude, speed and sunlight come from the TLE (the record's own position has no
    height); they are None without a TLE or more than a year from its epoch.
    """
    over = places.over(lat, lon)
    if sat is None or epoch_ts is None or abs(ts - epoch_ts) > MAX_TLE_SPAN_S:
        return Quick(None, None, None, None, over)
    try:
        s_lat, s_lon, alt = subpoint(sat, ts)
        a = subpoint(sat, ts - SPEED_DT_S)
        b = subpoint(sat, ts + SPEED_DT_S)
    except ValueError:  # an SGP4 error (a decayed orbit): no figures rather than wrong ones
        return Quick(None, None, None, None, over)
    speed = great_circle_km(a[0], a[1], b[0], b[1]) / (2 * SPEED_DT_S) * 3600.0
    return Quick(
        altitude_km=alt,
        ground_speed_kmh=speed,
        sunlit=sunlit(s_lat, s_lon, alt, ts),
        footprint_radius_km=footprint_radius_km(alt),
        over=over,
    )
