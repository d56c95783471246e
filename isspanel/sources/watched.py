"""The live API, watched: how far each position lies from the SGP4 model, and whether the
feed has frozen (Open Notify has served one position for hours during its outages)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from isspanel.geo.orbit import great_circle_km
from isspanel.record import IssRecord, iso_utc
from isspanel.settings import Settings
from isspanel.sources import StaleAnswer
from isspanel.sources.open_notify import OpenNotifySource

log = logging.getLogger(__name__)

# The API stamps whole seconds: a poll faster than this may see one answer twice, rightly.
SAME_ANSWER_S = 1.0


class FeedWatch:
    """Tells a moving feed from a frozen one.

    An answer that repeats the last new one (no newer timestamp, or the very same position)
    once the clock has moved on by SAME_ANSWER_S is stale; ``limit`` in a row: frozen.
    """

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self.last: IssRecord | None = None
        self.last_seen = 0.0  # monotonic time `last` first came
        self.stale_run = 0
        self.frozen_at: float | None = None  # wall time the feed was found frozen

    def see(self, record: IssRecord, now: float) -> str:
        """'new', 'repeat' (too soon to tell: the gate drops it as a duplicate) or 'stale'."""
        last = self.last
        if last is None or (
            record.timestamp > last.timestamp
            and (record.latitude, record.longitude) != (last.latitude, last.longitude)
        ):
            self.last, self.last_seen, self.stale_run = record, now, 0
            return "new"
        if now - self.last_seen < SAME_ANSWER_S:
            return "repeat"
        self.stale_run += 1
        return "stale"


def feed_event(kind: str, ts: int, record: IssRecord, reason: str) -> dict:
    """A row for the events topic, shaped like the Flink crossings (readers key on event +
    timestamp)."""
    return {
        "event": kind,
        "timestamp": ts,
        "eventTime": iso_utc(ts),
        "source": record.source,
        "latitude": record.latitude,
        "longitude": record.longitude,
        "reason": reason,
    }


class WatchedLive:
    """OpenNotifySource plus: ``model_km`` on each position, stale answers refused, a frozen
    feed said once (and when it moves again) and, with ``fallback`` (auto mode), SGP4
    positions standing in while it is frozen. The live API is still polled every tick."""

    name = "open-notify"

    def __init__(
        self, settings: Settings, live: OpenNotifySource, fallback: bool, model=None
    ) -> None:
        self.settings = settings
        self.live = live
        self.fallback = fallback
        self.watch = FeedWatch(settings.producer.stale_limit)
        self.model = model if model is not None else _model(settings)
        self.on_event: Callable[[dict], None] = lambda event: None  # the producer's

    @property
    def frozen(self) -> bool:
        return self.watch.frozen_at is not None

    def fit_interval(self, interval: float) -> None:
        self.live.fit_interval(interval)

    def fetch(self) -> IssRecord:
        record = self.live.fetch()
        stale_run = self.watch.stale_run
        verdict = self.watch.see(record, time.monotonic())
        if verdict == "stale":
            if self.watch.stale_run >= self.watch.limit and not self.frozen:
                self._frozen(record)
            stand_in = None
            if self.frozen and self.fallback and self.model is not None:
                stand_in = self.model.fetch()
            raise StaleAnswer(
                f"the live API repeats its answer of {record.event_time}"
                f" ({self.watch.stale_run} time(s) in a row)",
                stand_in,
            )
        if verdict == "new" and self.frozen:
            self._moving(record, stale_run)
        return self._compared(record)

    def _compared(self, record: IssRecord) -> IssRecord:
        """The record with its distance from SGP4's position at the same moment."""
        if self.model is None:
            return record
        model = self.model.position(record.timestamp)
        km = great_circle_km(record.latitude, record.longitude, model.latitude, model.longitude)
        return replace(record, model_km=round(km, 1))

    def _frozen(self, record: IssRecord) -> None:
        now = time.time()
        self.watch.frozen_at = now
        then = (
            "SGP4 positions are published until it moves"
            if self.fallback and self.model is not None
            else "nothing is published until it moves"
        )
        reason = (
            f"its answer of {record.event_time} at ({record.latitude}, {record.longitude})"
            f" came again {self.watch.stale_run} times in a row"
        )
        log.warning("feed frozen: %s: %s; %s", self.settings.producer.api_url, reason, then)
        self.on_event(feed_event("feed-frozen", int(now), record, reason))

    def _moving(self, record: IssRecord, stale_run: int) -> None:
        frozen_s, self.watch.frozen_at = time.time() - self.watch.frozen_at, None
        reason = f"a new answer after {frozen_s:.0f} s and {stale_run} stale answer(s)"
        log.info(
            "feed moving again: %s answers %s (%s); publishing its positions",
            self.settings.producer.api_url,
            record.event_time,
            reason,
        )
        self.on_event(feed_event("feed-moving", record.timestamp, record, reason))

    def close(self) -> None:
        self.live.close()


def _model(settings: Settings):
    """The SGP4 model to compare with (and, in auto mode, to stand in); None without a TLE."""
    from isspanel.sources.sgp4_model import Sgp4Source
    from isspanel.sources.tle import TleError

    try:
        return Sgp4Source(settings)
    except (TleError, OSError, ValueError) as exc:
        log.warning("no SGP4 model to compare the live positions with: %s", exc)
        return None
