"""The offline source: the ISS position computed by SGP4 from a bundled TLE."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import requests

from isspanel.orbit import Tle, load_tle, parse_tle, subpoint
from isspanel.record import IssRecord
from isspanel.settings import Settings

log = logging.getLogger(__name__)


def refresh_tle(settings: Settings) -> Tle | None:
    """Fetch a newer TLE from ``tle_url`` and save it; None when offline or invalid."""
    try:
        response = requests.get(
            settings.tle_url, timeout=(settings.connect_timeout, settings.read_timeout)
        )
        response.raise_for_status()
        lines = response.text.splitlines()
        # CelesTrak-style files hold many satellites: keep the ISS (NORAD 25544).
        for i, line in enumerate(lines):
            if line.startswith("1 25544"):
                tle = parse_tle("\n".join(lines[max(i - 1, 0) : i + 2]))
                break
        else:
            raise ValueError("no ISS (25544) element set in the answer")
    except (requests.RequestException, ValueError) as exc:
        log.warning(
            "TLE refresh from %s failed (%s); keeping the bundled TLE", settings.tle_url, exc
        )
        return None
    return tle


class Sgp4Source:
    name = "sgp4"

    def __init__(self, settings: Settings):
        self.settings = settings
        tle = refresh_tle(settings) if settings.tle_url else None
        self.tle = tle or load_tle(settings.tle_path)
        self.satellite = self.tle.satellite
        age_days = (datetime.now(UTC) - self.tle.epoch).total_seconds() / 86400
        log.info(
            "SGP4 model of %s, TLE epoch %s (%.0f days old)",
            self.tle.name,
            self.tle.epoch.strftime("%Y-%m-%dT%H:%M:%SZ"),
            age_days,
        )
        if age_days > 30:
            log.warning("the TLE is over 30 days old: positions drift; refresh with --tle-url")

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
