"""The offline source: the ISS position computed by SGP4 from a bundled TLE."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from isspanel.geo.orbit import subpoint
from isspanel.record import IssRecord
from isspanel.settings import Settings
from isspanel.sources import tle

log = logging.getLogger(__name__)


class Sgp4Source:
    name = "sgp4"

    def __init__(self, settings: Settings):
        self.settings = settings
        if settings.tle.url:
            outcome = tle.refresh(settings, settings.tle.url)
            (log.info if outcome.ok else log.warning)("TLE refresh: %s", outcome.message)
        self.tle, path = tle.newest_tle(settings)
        self.satellite = self.tle.satellite
        age = tle.age_days(self.tle)
        log.info("SGP4 model of %s, %s, from %s", self.tle.name, tle.describe(self.tle), path)
        if age > settings.tle.max_age_days:
            log.warning(
                "the TLE is %.0f days old (over ISS_TLE_MAX_AGE_DAYS=%g): positions drift by"
                " kilometres a day; `isspanel tle refresh` fetches a new one",
                age,
                settings.tle.max_age_days,
            )

    def position(self, ts: int) -> IssRecord:
        lat, lon, _alt = subpoint(self.satellite, ts)
        return IssRecord(int(ts), round(lat, 6), round(lon, 6), self.name)

    def fetch(self) -> IssRecord:
        return self.position(int(time.time()))

    def history(
        self, count: int, step_s: int = 1, end_ts: int | None = None
    ) -> Iterator[IssRecord]:
        """``count`` positions ``step_s`` apart, ending now (or at ``end_ts``)."""
        end = int(time.time()) if end_ts is None else end_ts
        start = end - (count - 1) * step_s
        for i in range(count):
            yield self.position(start + i * step_s)

    def close(self) -> None:
        pass
