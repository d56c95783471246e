"""Time travel's page side: the live page's Snapshot, built from Kafka as it was at a moment.

``moment_at`` opens one bounded reader (``isspanel.broker.history``), reads the four topics
back to ``at`` and closes it. The rows are made by the hub's own functions (``snapshot.py``),
so a page shows a moment with the same code that shows the live stream.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from isspanel.broker.history import History, HistoryReader, moment
from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.health import Health
from isspanel.dashboard.hub import EVENTS_BUFFER, SPEED_BUFFER, STATS_BUFFER
from isspanel.dashboard.status import moment_status_html
from isspanel.dashboard.world_map import night_data, predicted_data
from isspanel.flink_rows import FEED_EVENTS, event_ms
from isspanel.geo.orbit import ground_track, night_polygon
from isspanel.geo.quick import quick_readout
from isspanel.settings import Settings
from isspanel.sources import tle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Moment:
    """A moment read back from Kafka: the snapshot a page shows, and how it was read."""

    at: datetime  # the moment shown (now, if the one asked lay in the future)
    live: bool  # the moment asked lay in the future
    snapshot: snap.Snapshot
    reads: dict[str, History]  # by stream: positions, speeds, stats, events
    notes: tuple[str, ...]  # why a stream may show fewer rows than it would live
    fetched: int  # messages fetched from Kafka, all topics
    seconds: float  # reader opened → snapshot built

    @property
    def label(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} UTC"


def _feed_frozen_at(events: tuple[dict, ...], positions: tuple) -> float | None:
    """As the hub says it: the newest feed event wins; a newer live position ends a freeze."""
    feed = [e for e in events if e.get("event") in FEED_EVENTS]
    if not feed:
        return None
    newest = max(feed, key=event_ms)
    if newest["event"] != "feed-frozen":
        return None
    frozen_at = event_ms(newest) / 1000
    live_after = any(p.source == "open-notify" and p.timestamp > frozen_at for p in positions)
    return None if live_after else frozen_at


def _predicted(settings: Settings, ts: int | None) -> dict:
    """The next orbit from the newest position shown, with the TLE in use."""
    if ts is None:
        return {"x": [], "y": []}
    try:
        satellite = tle.current_tle(settings).satellite
        return predicted_data(ground_track(satellite, ts, minutes=93, step_s=30))
    except (tle.TleError, ValueError) as exc:
        log.warning("predicted orbit unavailable at the moment shown: %s", exc)
        return {"x": [], "y": []}


def _position_rows(settings: Settings, records) -> tuple:
    """A moment's rows as the hub makes them: their readouts from the TLE in use; their
    ``at`` (arrival: a moment has none) is when each happened."""
    try:
        current = tle.current_tle(settings)
        satellite, epoch = current.satellite, current.epoch.timestamp()
    except tle.TleError:
        satellite = epoch = None
    return tuple(
        snap.position_row(
            r,
            i + 1,
            r.timestamp,
            quick_readout(satellite, epoch, r.timestamp, r.latitude, r.longitude),
        )
        for i, r in enumerate(records)
    )


def streams(settings: Settings) -> tuple[tuple[str, str, int], ...]:
    """(stream, topic, rows the live page keeps) of the four streams a page shows."""
    return (
        ("positions", settings.topic, settings.buffer_size),
        ("speeds", settings.speed_topic, SPEED_BUFFER),
        ("stats", settings.stats_topic, STATS_BUFFER),
        ("events", settings.events_topic, EVENTS_BUFFER),
    )


def moment_at(settings: Settings, at: datetime) -> Moment:
    """Read the pipeline's topics back to ``at`` with one short-lived reader; build the
    snapshot. Raises ValueError for a moment without a time zone, HistoryError without Kafka."""
    started = time.monotonic()
    at, live = moment(at)  # once: four topics, one moment
    with HistoryReader(settings) as reader:
        read = reader.read_many({topic: limit for _, topic, limit in streams(settings)}, at)
        reads = {name: read[topic] for name, topic, _ in streams(settings)}
        fetched = reader.fetched
    result = build_moment(settings, at, live, reads, fetched, started)
    log.info(
        "time travel to %s: %d position(s), %d message(s) read in %.0f ms",
        result.label,
        len(result.snapshot.positions.rows),
        fetched,
        result.seconds * 1000,
    )
    return result


def build_moment(
    settings: Settings,
    at: datetime,
    live: bool,
    reads: dict[str, History],
    fetched: int,
    started: float,
) -> Moment:
    """The snapshot of the rows read, made by the hub's own row functions."""
    positions = reads["positions"]
    records = positions.rows
    newest = records[-1] if records else None
    health = Health(
        kafka_connected=True,
        kafka_error="",
        records=len(records),
        skipped=sum(r.skipped for r in reads.values()),
        duplicates=positions.duplicates,
        last_source=newest.source if newest else None,
        model_km=newest.model_km if newest else None,
        feed_frozen_at=_feed_frozen_at(reads["events"].rows, records),
    )
    notes = tuple(r.note for r in reads.values() if r.note)
    if live:
        notes = ("the moment asked lies in the future: showing now", *notes)
    rows = {
        # A moment has no arrival times: each row says when it happened instead.
        "positions": _position_rows(settings, records),
        "speeds": tuple(snap.speed_row(r) for r in reads["speeds"].rows),
        "stats": tuple(snap.stats_row(r) for r in reads["stats"].rows),
        "events": tuple(snap.event_row(r) for r in reads["events"].rows),
    }
    snapshot = snap.Snapshot(
        version=1,
        **{name: snap.Stream(r, len(r)) for name, r in rows.items()},
        predicted=_predicted(settings, newest.timestamp if newest else None),
        predicted_version=1,
        night=night_data(night_polygon(at.timestamp())),
        night_version=1,
        health=health,
        status=moment_status_html(f"{at:%Y-%m-%d %H:%M:%S} UTC", health, notes, fetched),
        health_version=1,
    )
    return Moment(at, live, snapshot, reads, notes, fetched, time.monotonic() - started)


def snapshot_at(settings: Settings, at: datetime) -> snap.Snapshot:
    """The snapshot a page shows at ``at`` (see ``moment_at``)."""
    return moment_at(settings, at).snapshot
