"""Passes over a place for 10 days: `isspanel.geo.next_passes` beside a naive 10-s scan.

The baseline computes the same things the plain way: the ISS's elevation from the place,
``is_sunlit`` and the sun's altitude with skyfield at every 10 s over the 10 days, then the
passes as the runs above the horizon. Target (issue 12): passes for 10 days in under 1 s.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import datetime, timedelta

import numpy as np
from skyfield.api import wgs84

from bench.common import print_table, row
from isspanel.geo import sky
from isspanel.geo.orbit import load_tle
from isspanel.geo.passes import TWILIGHT_DEG, next_passes
from isspanel.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DAYS = 10.0
PLACE = (52.52, 13.40, 34.0)  # Berlin
RUNS = 5


def naive_scan(tle, start: datetime, step_s: float = 10.0) -> int:
    """The passes (count) and their visibility by brute force; returns the pass count."""
    ts, eph = sky.timescale(), sky.ephemeris()
    sat, place = sky.satellite(tle), wgs84.latlon(*PLACE)
    t = ts.tt_jd(ts.from_datetime(start).tt + np.arange(0, DAYS * 86400, step_s) / 86400.0)
    alt, _az, _ = (sat - place).at(t).altaz()
    above = alt.degrees > 0
    sunlit = sat.at(t).is_sunlit(eph)
    sun_alt, _, _ = (eph["earth"] + place).at(t).observe(eph["sun"]).apparent().altaz()
    seen = above & sunlit & (sun_alt.degrees < TWILIGHT_DEG)
    rises = np.flatnonzero(~above[:-1] & above[1:])
    _ = [seen[a : a + 90].any() for a in rises]  # each pass's visibility, ≤ 15 min long
    return len(rises)


def run() -> list[dict]:
    tle = load_tle(PROJECT_ROOT / "isspanel" / "data" / "iss.tle")
    start = tle.epoch + timedelta(days=1)  # near the epoch, as a fresh TLE would be
    started = time.perf_counter()
    first = next_passes(tle, *PLACE, start=start, days=DAYS, min_elevation_deg=0.0)
    cold = time.perf_counter() - started  # loads the timescale and DE421 too
    warm = []
    for _ in range(RUNS):
        started = time.perf_counter()
        next_passes(tle, *PLACE, start=start, days=DAYS, min_elevation_deg=0.0)
        warm.append(time.perf_counter() - started)
    started = time.perf_counter()
    count = naive_scan(tle, start)
    naive = time.perf_counter() - started
    log.info("%d passes (the naive scan counts %d)", len(first), count)
    median = statistics.median(warm)
    return [
        row("10 days of passes, first call (loads DE421)", cold * 1000, "ms", "< 1000 ms"),
        row(
            f"10 days of passes, median of {RUNS}",
            median * 1000,
            "ms",
            "< 1000 ms",
            baseline=naive * 1000,
        ),
        row("passes found in 10 days (Berlin, above 0°)", len(first), "", baseline=count),
    ]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    print_table("Passes over a place (10 days)", run())
