"""Orbit maths: ISS sub-point from a TLE with SGP4, ground tracks, the day/night terminator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sgp4.api import Satrec

EARTH_RADIUS_KM = 6371.0  # mean sphere, as in the Flink SQL
WGS84_A = 6378.137
WGS84_F = 1 / 298.257223563


@dataclass(frozen=True)
class Tle:
    name: str
    line1: str
    line2: str

    @property
    def satellite(self) -> Satrec:
        return Satrec.twoline2rv(self.line1, self.line2)

    @property
    def epoch(self) -> datetime:
        sat = self.satellite
        days = (sat.jdsatepoch - 2440587.5) + sat.jdsatepochF
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=days)


def parse_tle(text: str) -> Tle:
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) == 2:
        lines.insert(0, "ISS (ZARYA)")
    if len(lines) < 3 or not lines[1].startswith("1 ") or not lines[2].startswith("2 "):
        raise ValueError("not a two-line element set")
    tle = Tle(lines[0].strip(), lines[1], lines[2])
    if tle.satellite.error:
        raise ValueError(f"SGP4 rejects this TLE (error {tle.satellite.error})")
    return tle


def load_tle(path: Path) -> Tle:
    return parse_tle(Path(path).read_text())


# The same formulas serve one time (``math``: a float costs far less than a NumPy scalar, and
# the SGP4 source computes one per record) and many (``numpy``, the next orbit's ~190 points).
_MATH = SimpleNamespace(
    sin=math.sin,
    cos=math.cos,
    sqrt=math.sqrt,
    arctan2=math.atan2,
    hypot=math.hypot,
    degrees=math.degrees,
    radians=math.radians,
)


def _gmst(jd_ut1, xp=_MATH):
    """Greenwich mean sidereal time in radians (IAU-82, as used with SGP4's TEME)."""
    t = (jd_ut1 - 2451545.0) / 36525.0
    seconds = (
        67310.54841 + (876600.0 * 3600 + 8640184.812866) * t + 0.093104 * t * t - 6.2e-6 * t**3
    )
    return xp.radians((seconds % 86400.0) / 240.0)


def _jd(ts: float) -> tuple[float, float]:
    days = ts / 86400.0
    whole = math.floor(days)
    return 2440587.5 + whole, days - whole


def _geodetic(r0, r1, r2, theta, xp=_MATH):
    """TEME position (km) at sidereal angle ``theta`` -> geodetic latitude, longitude
    (degrees) and altitude (km) on WGS-84."""
    x = r0 * xp.cos(theta) + r1 * xp.sin(theta)
    y = -r0 * xp.sin(theta) + r1 * xp.cos(theta)
    z = r2
    lon = xp.degrees(xp.arctan2(y, x))
    p = xp.hypot(x, y)
    e2 = WGS84_F * (2 - WGS84_F)
    lat = xp.arctan2(z, p * (1 - e2))
    for _ in range(5):
        n = WGS84_A / xp.sqrt(1 - e2 * xp.sin(lat) ** 2)
        alt = p / xp.cos(lat) - n
        lat = xp.arctan2(z, p * (1 - e2 * n / (n + alt)))
    n = WGS84_A / xp.sqrt(1 - e2 * xp.sin(lat) ** 2)
    alt = p / xp.cos(lat) - n
    lon = (lon + 180.0) % 360.0 - 180.0
    return xp.degrees(lat), lon, alt


def subpoint(sat: Satrec, ts: float) -> tuple[float, float, float]:
    """Geodetic latitude, longitude (degrees) and altitude (km) under the satellite at ``ts``."""
    jd, fr = _jd(ts)
    err, r, _v = sat.sgp4(jd, fr)
    if err:
        raise ValueError(f"SGP4 error {err} at {ts}")
    return _geodetic(r[0], r[1], r[2], _gmst(jd + fr))


def subpoints(sat: Satrec, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``subpoint`` for many times at once: one SGP4 call (``sgp4_array``), NumPy for the rest,
    the same formulas. Latitudes, longitudes (degrees) and altitudes (km)."""
    days = np.asarray(ts, dtype=float) / 86400.0
    whole = np.floor(days)
    jd, fr = 2440587.5 + whole, days - whole
    err, r, _v = sat.sgp4_array(jd, fr)
    if err.any():
        bad = int(np.flatnonzero(err)[0])
        raise ValueError(f"SGP4 error {int(err[bad])} at {float(np.asarray(ts)[bad])}")
    return _geodetic(r[:, 0], r[:, 1], r[:, 2], _gmst(jd + fr, np), np)


def ground_track(
    sat: Satrec, start_ts: float, minutes: float = 93.0, step_s: float = 30.0
) -> list[tuple[float, float, float]]:
    """(ts, lat, lon) points from ``start_ts`` over ``minutes``: one vectorised SGP4 call
    (``subpoints``), where a point at a time cost ~5 ms an orbit on every record."""
    steps = int(minutes * 60 / step_s) + 1
    ts = start_ts + np.arange(steps) * step_s
    lat, lon, _ = subpoints(sat, ts)
    return list(zip(ts.tolist(), lat.tolist(), lon.tolist(), strict=True))


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on the 6371 km sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def split_antimeridian(
    lons: list[float], lats: list[float], jump_deg: float = 180.0
) -> tuple[list[list[float]], list[list[float]]]:
    """Split a track into segments wherever longitude jumps across ±180°."""
    xs: list[list[float]] = []
    ys: list[list[float]] = []
    for lon, lat in zip(lons, lats, strict=True):
        if not xs or abs(lon - xs[-1][-1]) > jump_deg:
            xs.append([])
            ys.append([])
        xs[-1].append(lon)
        ys[-1].append(lat)
    return xs, ys


def subsolar_point(ts: float) -> tuple[float, float]:
    """Latitude and longitude where the sun is at zenith (low-precision almanac, ~0.1°)."""
    d = ts / 86400.0 + 2440587.5 - 2451545.0
    g = math.radians((357.529 + 0.98560028 * d) % 360)
    q = (280.459 + 0.98564736 * d) % 360
    lam = math.radians(q + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    eps = math.radians(23.439 - 0.00000036 * d)
    dec = math.asin(math.sin(eps) * math.sin(lam))
    ra = math.degrees(math.atan2(math.cos(eps) * math.sin(lam), math.cos(lam)))
    gmst_deg = math.degrees(_gmst(2440587.5 + ts / 86400.0))
    lon = (ra - gmst_deg + 180.0) % 360.0 - 180.0
    return math.degrees(dec), lon


def night_polygon(ts: float, step_deg: float = 2.0) -> tuple[list[float], list[float]]:
    """The night side as one polygon in lon/lat, closed over the dark pole."""
    sun_lat, sun_lon = subsolar_point(ts)
    dec = math.radians(sun_lat)
    if abs(dec) < 1e-6:
        dec = 1e-6
    lons, lats = [], []
    lon = -180.0
    while lon <= 180.0 + 1e-9:
        ha = math.radians(lon - sun_lon)
        lats.append(math.degrees(math.atan(-math.cos(ha) / math.tan(dec))))
        lons.append(lon)
        lon += step_deg
    dark_pole = -90.0 if sun_lat > 0 else 90.0
    return [*lons, 180.0, -180.0], [*lats, dark_pole, dark_pole]
