"""The sky as the dashboard shows it: the TLE in use, each position's readouts, the next orbit
and the night side.

The hub owns one and calls it from its consumer thread (``readout`` per record, ``next_orbit``
after it, ``night`` every minute, ``update_tle`` hourly); a moment (``history.py``) makes its
own for the time it shows. It holds no lock and knows no hub: it returns what it made, and
the hub puts that into its snapshot under its own lock.
"""

from __future__ import annotations

import logging
import time

from isspanel.dashboard.map_data import night_data, predicted_data
from isspanel.geo.orbit import Tle, ground_track, night_polygon
from isspanel.geo.quick import Quick, quick_readout
from isspanel.settings import Settings
from isspanel.sources import tle as tles

log = logging.getLogger("isspanel.dashboard.hub")

TLE_EVERY_S = 3600.0  # the TLE's age is shown in days: checked hourly, not per record
ORBIT_EVERY_S = 60  # of record time: the next orbit is redrawn at most this often


class SkyState:
    """The TLE in use and what is made from it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.tle: Tle | None = None  # the TLE in use (places' passes read it), or None
        self._satellite = None
        self._epoch: float | None = None
        self._checked_at = float("-inf")  # when update_tle last ran (monotonic)
        self._orbit_at = 0.0  # the record time of the next orbit drawn

    def update_tle(self) -> dict:
        """Take the TLE in use (the newer of the bundled and the refreshed one); its age, as
        the Health fields that show it."""
        self._checked_at = time.monotonic()
        try:
            current = tles.current_tle(self.settings)
        except tles.TleError as exc:
            log.warning("no TLE for the predicted orbit, readouts and passes (%s)", exc)
            self._satellite = self.tle = self._epoch = None
            return {"tle_age_days": None, "tle_old": False}
        if self.tle is None or current.line1 != self.tle.line1:
            self._satellite, self._epoch = current.satellite, current.epoch.timestamp()
            self.tle = current
            self._orbit_at = 0.0  # the next record redraws the next orbit with it
        age = round(tles.age_days(current), 1)
        return {"tle_age_days": age, "tle_old": age > self.settings.tle.max_age_days}

    def tle_due(self) -> bool:
        """Whether the hourly check of the TLE is due."""
        return time.monotonic() - self._checked_at >= TLE_EVERY_S

    def readout(self, ts: float, lat: float, lon: float) -> Quick:
        """A position's readouts: SGP4 and the own sun model (geo/quick.py, ~55 µs), not
        skyfield (~1.7 ms): made once per record, for every session."""
        return quick_readout(self._satellite, self._epoch, ts, lat, lon)

    def next_orbit(self, ts: int) -> dict | None:
        """The next orbit from record time ``ts``, as the map draws it; None if the one drawn
        is less than ORBIT_EVERY_S older, or there is no TLE or no orbit."""
        if self._satellite is None or abs(ts - self._orbit_at) < ORBIT_EVERY_S:
            return None
        try:
            track = ground_track(self._satellite, ts, minutes=93, step_s=30)
        except ValueError as exc:
            log.warning("predicted orbit unavailable: %s", exc)
            return None
        self._orbit_at = ts
        return predicted_data(track)

    @staticmethod
    def night(at: float | None = None) -> dict:
        """The night side at ``at`` (now by default), as the map draws it."""
        return night_data(night_polygon(time.time() if at is None else at))
