"""The hub's part that follows the sky: the TLE in use, the next orbit and the night side.

The consumer thread calls these (``update_night`` every minute, ``_update_predicted`` per
record); they change the hub's buffers only under its lock and mark what changed, like
``StreamHub.ingest``.
"""

from __future__ import annotations

import logging
import time

from isspanel.dashboard.world_map import night_data, predicted_data
from isspanel.geo.orbit import ground_track, night_polygon
from isspanel.sources import tle

log = logging.getLogger("isspanel.dashboard.hub")

TLE_EVERY_S = 3600.0  # the TLE's age is shown in days: checked hourly, not per record


class SkyState:
    """Mixed into StreamHub: it provides settings, _lock, _dirty and set_health."""

    def update_tle(self) -> None:
        """The TLE in use (the newer of the bundled and the refreshed one) and its age."""
        self._tle_at = time.monotonic()
        try:
            current = tle.current_tle(self.settings)
        except tle.TleError as exc:
            log.warning("no TLE for the predicted orbit, readouts and passes (%s)", exc)
            self._satellite = self.tle = self._tle_epoch = None
            self.set_health(tle_age_days=None, tle_old=False)
            return
        if self._satellite is None or current.line1 != self._tle_line1:
            self._satellite, self._tle_line1 = current.satellite, current.line1
            self.tle, self._tle_epoch = current, current.epoch.timestamp()
            self._predicted_at = 0.0  # the next record redraws the next orbit with it
        age = round(tle.age_days(current), 1)
        self.set_health(tle_age_days=age, tle_old=age > self.settings.tle_max_age_days)

    def _update_predicted(self, ts: int) -> None:
        # The next orbit, recomputed at most once a minute of record time.
        if self._satellite is None or abs(ts - self._predicted_at) < 60:
            return
        try:
            track = ground_track(self._satellite, ts, minutes=93, step_s=30)
        except ValueError as exc:
            log.warning("predicted orbit unavailable: %s", exc)
            return
        self._predicted_at = ts
        with self._lock:
            self._predicted = predicted_data(track)
            self._dirty.add("predicted")

    def update_night(self) -> None:
        """The night side now (called every minute); and, hourly, the TLE's age."""
        if time.monotonic() - self._tle_at >= TLE_EVERY_S:
            self.update_tle()
        night = night_data(night_polygon(time.time()))
        with self._lock:
            self._night = night
            self._dirty.add("night")
