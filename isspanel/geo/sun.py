"""The sun from skyfield and DE421: the sub-solar point and the sun's altitude at a place.

The dashboard's night side uses ``isspanel.geo.orbit.subsolar_point`` (a low-precision almanac,
no ephemeris to load); tests/geo/test_readouts.py shows it agrees with the point here to within
a few hundredths of a degree over a year.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from skyfield.api import wgs84
from skyfield.timelib import Time

from isspanel.geo import sky


def subsolar_point(when: float | datetime | Time) -> tuple[float, float]:
    """Latitude and longitude (degrees) where the sun is at the zenith.

    The apparent declination of the sun and its Greenwich hour angle (skyfield's GAST); on the
    WGS84 ellipsoid the zenith of a place is along its geodetic normal, so this latitude is
    geodetic. ``when`` may be an array-valued skyfield Time: then arrays come back.
    """
    t = sky.at(when)
    eph = sky.ephemeris()
    ra, dec, _ = eph["earth"].at(t).observe(eph["sun"]).apparent().radec(epoch="date")
    lon = (ra.hours - t.gast) * 15.0
    lon = (np.asarray(lon) + 180.0) % 360.0 - 180.0
    if np.ndim(lon) == 0:
        return float(dec.degrees), float(lon)
    return dec.degrees, lon


def sun_altitude_deg(lat: float, lon: float, when: float | datetime | Time) -> float:
    """The sun's altitude above the horizon at a place (degrees, no refraction)."""
    t = sky.at(when)
    eph = sky.ephemeris()
    place = eph["earth"] + wgs84.latlon(lat, lon)
    alt, _, _ = place.at(t).observe(eph["sun"]).apparent().altaz()
    return float(alt.degrees) if np.ndim(alt.degrees) == 0 else alt.degrees
