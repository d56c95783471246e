"""Skyfield, offline: the timescale and the DE421 ephemeris that skyfield-data ships.

Nothing here downloads: the timescale is skyfield's built-in one, and the ephemeris is
opened as a local file (``load_file``), which never reaches the network.
"""

from __future__ import annotations

import functools
import warnings
from datetime import UTC, datetime
from pathlib import Path

from skyfield.api import EarthSatellite, Loader, load_file
from skyfield.jpllib import SpiceKernel
from skyfield.timelib import Time, Timescale

from isspanel.geo.orbit import Tle

EPHEMERIS = "de421.bsp"  # JPL DE421, 1900-2050: sun and earth positions


def data_path() -> Path:
    """The folder of skyfield-data's files."""
    import skyfield_data

    with warnings.catch_warnings():
        # It warns that finals2000A.all (polar motion, UT1) has expired: we don't read it,
        # the built-in timescale below brings its own tables.
        warnings.filterwarnings("ignore", message=".*finals2000A", category=RuntimeWarning)
        return Path(skyfield_data.get_skyfield_data_path())


@functools.cache
def timescale() -> Timescale:
    return Loader(str(data_path()), verbose=False).timescale(builtin=True)


@functools.cache
def ephemeris() -> SpiceKernel:
    path = data_path() / EPHEMERIS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall skyfield-data")
    return load_file(str(path))


def satellite(tle: Tle) -> EarthSatellite:
    return EarthSatellite(tle.line1, tle.line2, tle.name, timescale())


def at(when: float | datetime | Time) -> Time:
    """A skyfield Time from a Unix timestamp, an aware datetime or a Time."""
    if isinstance(when, Time):
        return when
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("a naive datetime: give it a time zone (UTC)")
        return timescale().from_datetime(when)
    return timescale().from_datetime(datetime.fromtimestamp(float(when), UTC))


def to_datetime(t: Time) -> datetime:
    """UTC datetime, rounded to the microsecond."""
    return t.utc_datetime()
