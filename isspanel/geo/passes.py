"""Passes of the ISS over a place: rise, culmination and set, and whether one can see it.

Skyfield does the work: SGP4 from the TLE (``EarthSatellite``, the same ``sgp4`` library as
the producer), the horizon crossings (``find_events``), the Earth's shadow (``is_sunlit``
with DE421) and the sun's altitude at the observer. Rise and set are where the ISS crosses
the horizon (0°); ``min_elevation_deg`` keeps only the passes that climb at least that high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from skyfield.api import wgs84

from isspanel.geo import sky
from isspanel.geo.orbit import Tle

TWILIGHT_DEG = -6.0  # civil twilight: the sky is dark enough to see the ISS
MAX_DAYS = 30.0  # predictions from one TLE drift by minutes within weeks: a month is plenty
# SGP4 says nothing useful this far from a TLE's epoch (it decays, or un-decays, the orbit).
MAX_TLE_SPAN_DAYS = 365.0
# A pass lasts at most ~11 min: looking this far either side of the window completes the
# passes it cuts (one under way at its start, or rising before its end).
MARGIN = timedelta(minutes=20)

COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
           "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")  # fmt: skip


@dataclass(frozen=True)
class Pass:
    """One pass over the horizon; times are UTC, angles in degrees (azimuth from north)."""

    rise: datetime
    culmination: datetime
    set: datetime
    max_elevation_deg: float
    rise_azimuth_deg: float
    culmination_azimuth_deg: float
    set_azimuth_deg: float
    visible: bool  # sunlit while the observer's sun is below -6°, at some moment of the pass

    @property
    def duration_s(self) -> float:
        return (self.set - self.rise).total_seconds()


def compass(azimuth_deg: float) -> str:
    """The 16-point compass direction of an azimuth: 0 N, 90 E, 202.5 SSW."""
    return COMPASS[int(((azimuth_deg % 360.0) + 11.25) // 22.5) % 16]


def check_place(lat: float, lon: float) -> None:
    """ValueError unless the latitude and longitude are finite and on Earth."""
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"latitude must be within -90..90 degrees, not {lat}")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValueError(f"longitude must be within -180..180 degrees, not {lon}")


def check_days(days: float) -> None:
    if not (math.isfinite(days) and 0 < days <= MAX_DAYS):
        raise ValueError(f"days must be over 0 and at most {MAX_DAYS:g}, not {days}")


def next_passes(
    tle: Tle,
    lat: float,
    lon: float,
    elevation_m: float = 0.0,
    start: datetime | float | None = None,
    days: float = 3.0,
    min_elevation_deg: float = 0.0,
) -> list[Pass]:
    """The passes that are above the horizon at some moment from ``start`` (default now) over
    ``days``, highest point at least ``min_elevation_deg``; a pass under way at ``start`` is
    included whole."""
    check_place(lat, lon)
    check_days(days)
    begin = _utc(start)
    end = begin + timedelta(days=days)
    for edge in (begin, end):
        if abs((edge - tle.epoch).total_seconds()) > MAX_TLE_SPAN_DAYS * 86400:
            raise ValueError(
                f"{edge:%Y-%m-%d} is over {MAX_TLE_SPAN_DAYS:g} days from the TLE's epoch"
                f" ({tle.epoch:%Y-%m-%d}): SGP4 cannot say where the ISS is then"
            )
    sat = sky.satellite(tle)
    place = wgs84.latlon(lat, lon, elevation_m)
    ts = sky.timescale()
    t0, t1 = ts.from_datetime(begin - MARGIN), ts.from_datetime(end + MARGIN)
    times, events = sat.find_events(place, t0, t1, altitude_degrees=0.0)
    groups = _group(times.tt, events)
    groups = [g for g in groups if g[2] >= _tt(ts, begin) and g[0] < _tt(ts, end)]
    if not groups:
        return []

    # All the angles at once: skyfield is fast on arrays, slow one time at a time.
    flat = [tt for g in groups for tt in (g[0], *g[1], g[2])]
    alt, az, _ = (sat - place).at(ts.tt_jd(np.array(flat))).altaz()
    found = []  # (rise, culmination, set, max elevation, azimuths at the three)
    i = 0
    for rise, culms, set_ in groups:
        n = len(culms)
        alts, azs = alt.degrees[i : i + n + 2], az.degrees[i : i + n + 2]
        best = 1 + int(np.argmax(alts[1 : n + 1]))  # several culminations: the highest
        if alts[best] >= min_elevation_deg:
            found.append((rise, culms[best - 1], set_, alts[best], azs[0], azs[best], azs[-1]))
        i += n + 2
    visible = _visible(sat, place, [(f[0], f[2]) for f in found])
    return [
        Pass(
            rise=_dt(ts, rise),
            culmination=_dt(ts, culm),
            set=_dt(ts, set_),
            max_elevation_deg=float(top),
            rise_azimuth_deg=float(az_rise),
            culmination_azimuth_deg=float(az_top),
            set_azimuth_deg=float(az_set),
            visible=vis,
        )
        for (rise, culm, set_, top, az_rise, az_top, az_set), vis in zip(
            found, visible, strict=True
        )
    ]


def _group(tts: np.ndarray, events: np.ndarray) -> list[tuple[float, list[float], float]]:
    """(rise, [culminations], set) of every complete pass; cut ones at the ends are dropped."""
    groups = []
    rise, culms = None, []
    for tt, event in zip(tts, events, strict=True):
        if event == 0:
            rise, culms = float(tt), []
        elif event == 1 and rise is not None:
            culms.append(float(tt))
        elif event == 2 and rise is not None:
            if culms:
                groups.append((rise, culms, float(tt)))
            rise, culms = None, []
    return groups


def _visible(sat, place, spans: list[tuple[float, float]]) -> list[bool]:
    """For each (rise, set) span in TT days: is the ISS sunlit at some moment of it while the
    observer's sun is below -6°?

    The sun's altitude is taken at rise and set and interpolated between (over a pass it
    moves by at most ~3°, on a curve within ~0.02° of the straight line), so the dark part
    of a pass is one interval. Within a pass (≤ 12 min) the Earth's shadow is at most one
    interval too (it comes once an orbit, 92 min, and the sunlit arc lasts ≥ 55 min), so
    each sunlit stretch of the pass touches its rise or its set. Hence the ISS is sunlit
    somewhere in the dark interval exactly when it is sunlit at one of its two ends.
    """
    if not spans:
        return []
    ts, eph = sky.timescale(), sky.ephemeris()
    ends = ts.tt_jd(np.array(spans).ravel())
    sun_alt, _, _ = (eph["earth"] + place).at(ends).observe(eph["sun"]).apparent().altaz()
    dark: list[tuple[int, float, float]] = []  # (pass index, dark from, dark until)
    for i, ((rise, set_), (alt_rise, alt_set)) in enumerate(
        zip(spans, sun_alt.degrees.reshape(-1, 2), strict=True)
    ):
        if min(alt_rise, alt_set) >= TWILIGHT_DEG:
            continue  # daylight or bright twilight throughout
        if alt_rise < TWILIGHT_DEG and alt_set < TWILIGHT_DEG:
            a, b = rise, set_
        else:  # it gets dark, or light, during the pass
            cross = rise + (set_ - rise) * (TWILIGHT_DEG - alt_rise) / (alt_set - alt_rise)
            a, b = (rise, cross) if alt_rise < TWILIGHT_DEG else (cross, set_)
        dark.append((i, a, b))
    visible = [False] * len(spans)
    if dark:
        tts = np.array([(a, b) for _, a, b in dark]).ravel()
        sunlit = sat.at(ts.tt_jd(tts)).is_sunlit(eph).reshape(-1, 2)
        for (i, _, _), lit in zip(dark, sunlit, strict=True):
            visible[i] = bool(lit.any())
    return visible


def _utc(start: datetime | float | None) -> datetime:
    if start is None:
        return datetime.now(UTC)
    if isinstance(start, datetime):
        if start.tzinfo is None:
            raise ValueError("start is a naive datetime: give it a time zone (UTC)")
        return start.astimezone(UTC)
    return datetime.fromtimestamp(float(start), UTC)


def _tt(ts, when: datetime) -> float:
    return float(ts.from_datetime(when).tt)


def _dt(ts, tt: float) -> datetime:
    return ts.tt_jd(tt).utc_datetime()
