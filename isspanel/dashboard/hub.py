"""The server's one hub: validated records in, one shared immutable Snapshot out.

The Kafka consumer thread (``consumer.py``) feeds ``ingest``; after each poll the hub
publishes a new Snapshot (only if something changed) and wakes every session, which hands
the work to its own event loop (``session.py``), never touching a document here. A session
then reads the newest snapshot and sends what changed since the one it showed (``page.py``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from isspanel import flink_rows
from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.health import Health, status_key
from isspanel.dashboard.sky_state import SkyState
from isspanel.dashboard.status import status_html
from isspanel.dashboard.track import Track, anomaly_leg
from isspanel.dashboard.world_map import night_data
from isspanel.geo.orbit import night_polygon
from isspanel.geo.quick import quick_readout
from isspanel.messages import parse_object, skip_reason
from isspanel.record import from_message
from isspanel.settings import Settings

log = logging.getLogger(__name__)

Listener = Callable[[], None]

# A poll loop that has not completed a pass for this long is stalled: pages say so.
STALL_S = 10.0
SPEED_BUFFER = 600
STATS_BUFFER = 24
EVENTS_BUFFER = 24


class StreamHub(SkyState):
    def __init__(self, settings: Settings):
        self.settings = settings
        self._positions: deque[tuple] = deque(maxlen=settings.buffer_size)
        self._position_keys: set[int] = set()  # the timestamps in _positions: the key
        self._track = Track(settings.buffer_size)  # a segment per position, into it
        self._feed_event_ts = float("-inf")  # the newest feed-frozen/-moving event seen
        self._speeds: deque[tuple] = deque(maxlen=SPEED_BUFFER)
        self._stats: deque[tuple] = deque(maxlen=STATS_BUFFER)
        self._events: deque[tuple] = deque(maxlen=EVENTS_BUFFER)
        self._totals = {"positions": 0, "speeds": 0, "stats": 0, "events": 0}
        self._dirty: set[str] = set()
        self.health = Health()  # replaced whole, never edited
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._ids = itertools.count()
        self._last_pass = time.monotonic()  # when the consumer thread last made progress
        self._thread_alive: Callable[[], bool] = lambda: True
        self._predicted_at = 0.0
        self._satellite = None
        self.tle = None  # the Tle in use (places' passes read it), or None
        self._tle_epoch: float | None = None
        self.update_tle()
        self._snapshot = snap.Snapshot(
            night=night_data(night_polygon(time.time())),
            status=status_html(self.health, settings.bootstrap),
        )
        self._stalled: snap.Snapshot | None = None

    # -- sessions (their event loop's thread) ------------------------------------
    def subscribe(self, listener: Listener) -> int:
        """Call ``listener`` after each new snapshot, on the consumer thread: it must only
        hand the work on (``SessionContext.post``)."""
        with self._lock:
            token = next(self._ids)
            self._listeners[token] = listener
        self._set_sessions()
        return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._listeners.pop(token, None)
        self._set_sessions()

    def _set_sessions(self) -> None:
        # Shown with the next status refresh (refresh_status): a burst of opening pages
        # costs each open page one status update, not one per page opened.
        with self._lock:
            self.health = replace(self.health, sessions=len(self._listeners))

    def snapshot(self) -> snap.Snapshot:
        """The newest snapshot; with the health of a stalled consumer if it has stalled."""
        current = self._snapshot
        idle = time.monotonic() - self._last_pass
        alive = self._thread_alive()
        if alive and idle <= STALL_S:
            return current
        health = replace(
            current.health,
            stalled_s=int(idle),
            kafka_error=current.health.kafka_error if alive else "the consumer thread stopped",
        )
        stalled = self._stalled
        if stalled is None or stalled.health != health or stalled.version != current.version:
            # Made once per second of stall and shared, like any snapshot.
            stalled = replace(
                current,
                health=health,
                status=status_html(health, self.settings.bootstrap),
            )
            self._stalled = stalled
        return stalled

    # -- the consumer thread -------------------------------------------------------
    def alive(self, thread_alive: Callable[[], bool]) -> None:
        """Tell the hub how to ask whether its consumer thread still runs."""
        self._thread_alive = thread_alive

    def beat(self) -> None:
        """The consumer's poll loop completed a pass."""
        self._last_pass = time.monotonic()

    def set_health(self, **changes) -> None:
        with self._lock:
            health = replace(self.health, **changes)
            if health != self.health:
                self.health = health
                self._dirty.add("health")

    def refresh_status(self) -> None:
        """Show the health as it is now (lag, sessions) if what the status says has changed."""
        with self._lock:
            if self.health != self._snapshot.health:
                self._dirty.add("health")

    def ingest(self, topic: str, value: bytes | None) -> bool:
        """Validate and buffer one message; False if it was skipped.

        Never raises: whatever one message holds, it is skipped and counted, and the
        consumer goes on with the next.
        """
        s = self.settings
        try:
            if topic == s.topic:
                record = from_message(value, s.max_message_bytes)
                with self._lock:
                    if record.timestamp in self._position_keys:
                        # A repeat (a replayed spool, a second producer): the timestamp is
                        # the key, so it changes nothing shown.
                        self.health = replace(self.health, duplicates=self.health.duplicates + 1)
                        log.debug("repeated position %s ignored", record.event_time)
                        return False
                    if len(self._positions) == self._positions.maxlen:
                        self._position_keys.discard(self._positions[0][0])
                    self._position_keys.add(record.timestamp)
                    self._totals["positions"] += 1
                    now = time.time()
                    # Once per record, for every session: SGP4 and the own sun model
                    # (geo/quick.py, ~55 µs), not skyfield (~1.7 ms).
                    readout = quick_readout(
                        self._satellite,
                        self._tle_epoch,
                        record.timestamp,
                        record.latitude,
                        record.longitude,
                    )
                    prev = self._positions[-1] if self._positions else None
                    row = snap.position_row(record, self.health.records + 1, now, readout)
                    self._positions.append(row)
                    self._track.follow(prev, row)
                    frozen_at = self.health.feed_frozen_at
                    if record.source == "open-notify" and (frozen_at or 0) < record.timestamp:
                        frozen_at = None  # a live position newer than the freeze: it moves
                    self.health = replace(
                        self.health,
                        records=self.health.records + 1,
                        last_record_at=now,
                        last_source=record.source,
                        model_km=record.model_km,
                        feed_frozen_at=frozen_at,
                    )
                    # Not "health": the count, arrival and live-vs-model figure travel in
                    # the row (status_key), so a record costs each session one change.
                    self._dirty.add("positions")
                    if status_key(self.health) != status_key(self._snapshot.health):
                        self._dirty.add("health")  # e.g. the first record, a new source
                self._update_predicted(record.timestamp)
                return True
            kind, validate, make_row, target = {
                s.speed_topic: ("speeds", flink_rows.speed_row, snap.speed_row, self._speeds),
                s.stats_topic: ("stats", flink_rows.stats_row, snap.stats_row, self._stats),
            }.get(topic, ("events", flink_rows.event_row, snap.event_row, self._events))
            data = validate(parse_object(value, s.max_message_bytes))
            row = make_row(data)
            leg = anomaly_leg(data)  # the track is not drawn through it
            with self._lock:
                target.append(row)
                self._totals[kind] += 1
                self._dirty.add(kind)
                if leg is not None and self._track.break_leg(leg):
                    self._dirty.add("track")
            if data.get("event") in flink_rows.FEED_EVENTS:
                self._feed_event(data)
            return True
        except Exception as exc:  # one message must never stop the consumer
            reason = skip_reason(exc)
        with self._lock:
            self.health = replace(self.health, skipped=self.health.skipped + 1)
            self._dirty.add("health")
        log.warning("skipped a bad message on %s: %s", topic, reason)
        return False

    def _feed_event(self, row: dict) -> None:
        """The producer says the live feed froze, or moves again: the newest such event wins
        (several partitions may bring them out of order)."""
        ts = flink_rows.event_ms(row) / 1000
        with self._lock:
            if ts < self._feed_event_ts:
                return
            self._feed_event_ts = ts
        frozen = row["event"] == "feed-frozen"
        self.set_health(feed_frozen_at=ts if frozen else None)

    def publish(self) -> None:
        """Swap in a new snapshot if anything changed, and wake every session."""
        with self._lock:
            if not self._dirty:
                return
            dirty, self._dirty = self._dirty, set()
            old = self._snapshot
            changes: dict = {"version": old.version + 1}
            for kind, rows in (
                ("positions", self._positions),
                ("speeds", self._speeds),
                ("stats", self._stats),
                ("events", self._events),
            ):
                if kind in dirty:
                    changes[kind] = snap.Stream(tuple(rows), self._totals[kind])
            if dirty & {"positions", "track"}:
                changes["track"] = snap.Stream(
                    tuple(self._track.rows), self._totals["positions"], self._track.resets
                )
            if "predicted" in dirty:
                changes |= {"predicted": self._predicted, "predicted_version": old.version + 1}
            if "night" in dirty:
                changes |= {"night": self._night, "night_version": old.version + 1}
            if "health" in dirty and self.health != old.health:
                changes["health"] = self.health
                if status_key(self.health) != status_key(old.health):
                    changes |= {
                        "status": status_html(self.health, self.settings.bootstrap),
                        "health_version": old.health_version + 1,
                    }
            self._snapshot = replace(old, **changes)
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("a session's listener failed")
