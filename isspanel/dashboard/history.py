"""Time travel's page side: the live page's Snapshot, built from Kafka as it was at a moment.

``moment_at`` opens one bounded reader (``isspanel.broker.history``), reads every stream's
topic (``streams.STREAMS``) back to ``at`` and closes it. The rows, the track, the readouts and
the next orbit are made as the hub makes them (``buffers.py``, ``sky_state.py``), so a page
shows a moment with the same code that shows the live stream.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from isspanel.broker.history import History, HistoryReader, moment
from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.buffers import Buffers
from isspanel.dashboard.health import Health
from isspanel.dashboard.sky_state import SkyState
from isspanel.dashboard.status import moment_status_html
from isspanel.dashboard.streams import STREAMS, Stream
from isspanel.flink_rows import FEED_EVENTS, event_ms
from isspanel.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Moment:
    """A moment read back from Kafka: the snapshot a page shows, and how it was read."""

    at: datetime  # the moment shown (now, if the one asked lay in the future)
    live: bool  # the moment asked lay in the future
    snapshot: snap.Snapshot
    reads: dict[str, History]  # by stream (streams.STREAMS)
    notes: tuple[str, ...]  # why a stream may show fewer rows than it would live
    fetched: int  # messages fetched from Kafka, all topics
    seconds: float  # reader opened → snapshot built

    @property
    def label(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} UTC"


def _feed_frozen_at(reads: dict[str, History], records: tuple) -> float | None:
    """As the hub says it: the newest feed event wins; a newer live position ends a freeze."""
    feed = [
        row
        for read in reads.values()
        for row in read.rows
        if isinstance(row, dict) and row.get("event") in FEED_EVENTS
    ]
    if not feed:
        return None
    newest = max(feed, key=event_ms)
    if newest["event"] != "feed-frozen":
        return None
    frozen_at = event_ms(newest) / 1000
    live_after = any(p.source == "open-notify" and p.timestamp > frozen_at for p in records)
    return None if live_after else frozen_at


def moment_at(settings: Settings, at: datetime, streams: tuple[Stream, ...] = STREAMS) -> Moment:
    """Read the streams' topics back to ``at`` with one short-lived reader; build the
    snapshot. Raises ValueError for a moment without a time zone, HistoryError without Kafka."""
    started = time.monotonic()
    at, live = moment(at)  # once: every topic, one moment
    topics = {s.name: s.topic(settings) for s in streams}
    with HistoryReader(settings) as reader:
        read = reader.read_many(
            {s.topic(settings): s.keep(settings) for s in streams},
            at,
            kinds={s.topic(settings): s.kind for s in streams},
        )
        reads = {name: read[topic] for name, topic in topics.items()}
        fetched = reader.fetched
    result = build_moment(settings, at, live, reads, fetched, started, streams)
    log.info(
        "time travel to %s: %d position(s), %d message(s) read in %.0f ms",
        result.label,
        result.snapshot.health.records,
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
    streams: tuple[Stream, ...] = STREAMS,
) -> Moment:
    """The snapshot of the rows read (``reads``: by stream), made as the hub makes it."""
    sky = SkyState(settings)
    sky.update_tle()  # the TLE in use: the readouts and the next orbit
    buffers = Buffers(settings, streams)
    for stream in streams:
        for data in reads[stream.name].rows:
            # A moment has no arrival times: each row says when it happened instead.
            buffers.add(stream, data, stream.kind.time_ms(data) / 1000, sky)
    positions = reads[buffers.record.name]
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
        feed_frozen_at=_feed_frozen_at(reads, records),
    )
    notes = tuple(r.note for r in reads.values() if r.note)
    if live:
        notes = ("the moment asked lies in the future: showing now", *notes)
    predicted = sky.next_orbit(newest.timestamp) if newest else None
    snapshot = snap.Snapshot(
        version=1,
        streams=buffers.all(),
        predicted=predicted or snap.Snapshot().predicted,
        predicted_version=1,
        night=sky.night(at.timestamp()),
        night_version=1,
        health=health,
        status=moment_status_html(f"{at:%Y-%m-%d %H:%M:%S} UTC", health, notes, fetched),
        health_version=1,
    )
    return Moment(at, live, snapshot, reads, notes, fetched, time.monotonic() - started)


def snapshot_at(settings: Settings, at: datetime) -> snap.Snapshot:
    """The snapshot a page shows at ``at`` (see ``moment_at``)."""
    return moment_at(settings, at).snapshot
