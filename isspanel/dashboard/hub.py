"""The server's one hub: validated records in, one shared immutable Snapshot out.

The Kafka consumer thread (``consumer.py``) feeds ``ingest`` the messages of every stream
(``streams.STREAMS``: each validated by its own validator, made a row by its own builder, kept
in ``buffers.py``); the hub owns the sky (``sky_state.py``) and the health. After each poll it
publishes a new Snapshot (only if something changed) and wakes every session, which hands the
work to its own event loop (``session.py``), never touching a document here. A session then
reads the newest snapshot and sends what changed since the one it showed (``page.py``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.buffers import Buffers
from isspanel.dashboard.health import Health, status_key
from isspanel.dashboard.sky_state import SkyState
from isspanel.dashboard.status import status_html
from isspanel.dashboard.streams import STREAMS, Stream
from isspanel.flink_rows import FEED_EVENTS, event_ms
from isspanel.geo.orbit import Tle
from isspanel.messages import skip_reason
from isspanel.record import InvalidRecord
from isspanel.settings import Settings

log = logging.getLogger(__name__)

Listener = Callable[[], None]

# A poll loop that has not completed a pass for this long is stalled: pages say so.
STALL_S = 10.0


class StreamHub:
    """Validated rows of ``streams`` in, one shared immutable Snapshot out."""

    def __init__(self, settings: Settings, streams: tuple[Stream, ...] = STREAMS):
        self.settings = settings
        self.streams = streams
        self._by_topic = {s.topic(settings): s for s in streams}
        self._buffers = Buffers(settings, streams)  # under _lock
        self._feed_event_ts = float("-inf")  # the newest feed-frozen/-moving event seen
        self._dirty: set[str] = set()  # what else changed: health, predicted, night
        self.health = Health()  # replaced whole, never edited
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._ids = itertools.count()
        self._last_pass = time.monotonic()  # when the consumer thread last made progress
        self._thread_alive: Callable[[], bool] = lambda: True
        self.sky = SkyState(settings)  # used by the consumer thread only
        self.update_tle()
        self._predicted = snap.Snapshot().predicted
        self._night = self.sky.night()
        self._snapshot = snap.Snapshot(
            streams=self._buffers.all(),
            night=self._night,
            status=status_html(self.health, settings.kafka.bootstrap_servers),
        )
        self._stalled: snap.Snapshot | None = None

    @property
    def tle(self) -> Tle | None:
        """The TLE in use (places' passes read it), or None."""
        return self.sky.tle

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
                status=status_html(health, self.settings.kafka.bootstrap_servers),
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
        """Validate and buffer one message; False if it was skipped (or a repeat).

        Never raises: whatever one message holds, it is skipped and counted, and the
        consumer goes on with the next.
        """
        try:
            stream = self._by_topic.get(topic)
            if stream is None:
                raise InvalidRecord(f"{topic} is not one of the dashboard's topics")
            data = stream.kind.parse(value, self.settings.dashboard.max_message_bytes)
            if stream.record:
                return self._record(stream, data)
            with self._lock:
                self._buffers.add(stream, data, time.time(), self.sky)
            if data.get("event") in FEED_EVENTS:
                self._feed_event(data)
            return True
        except Exception as exc:  # one message must never stop the consumer
            reason = skip_reason(exc)
        with self._lock:
            self.health = replace(self.health, skipped=self.health.skipped + 1)
            self._dirty.add("health")
        log.warning("skipped a bad message on %s: %s", topic, reason)
        return False

    def _record(self, stream: Stream, record) -> bool:
        """A position: its row (readouts made once, here, for every session), the track into
        it, and the status's figures."""
        with self._lock:
            now = time.time()
            if self._buffers.add(stream, record, now, self.sky) is None:
                # A repeat (a replayed spool, a second producer): the timestamp is the key,
                # so it changes nothing shown.
                self.health = replace(self.health, duplicates=self.health.duplicates + 1)
                log.debug("repeated position %s ignored", record.event_time)
                return False
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
            # Not "health": the count, arrival and live-vs-model figure travel in the row
            # (status_key), so a record costs each session one change.
            if status_key(self.health) != status_key(self._snapshot.health):
                self._dirty.add("health")  # e.g. the first record, a new source
        predicted = self.sky.next_orbit(record.timestamp)
        if predicted is not None:
            with self._lock:
                self._predicted = predicted
                self._dirty.add("predicted")
        return True

    def _feed_event(self, row: dict) -> None:
        """The producer says the live feed froze, or moves again: the newest such event wins
        (several partitions may bring them out of order)."""
        ts = event_ms(row) / 1000
        with self._lock:
            if ts < self._feed_event_ts:
                return
            self._feed_event_ts = ts
        frozen = row["event"] == "feed-frozen"
        self.set_health(feed_frozen_at=ts if frozen else None)

    def update_tle(self) -> None:
        """Take the TLE in use, and show its age (hourly: ``update_night``)."""
        self.set_health(**self.sky.update_tle())

    def update_night(self) -> None:
        """The night side now (called every minute); and, hourly, the TLE's age."""
        if self.sky.tle_due():
            self.update_tle()
        night = self.sky.night()
        with self._lock:
            self._night = night
            self._dirty.add("night")

    def publish(self) -> None:
        """Swap in a new snapshot if anything changed, and wake every session."""
        with self._lock:
            if not self._dirty and not self._buffers.changed:
                return
            dirty, self._dirty = self._dirty, set()
            old = self._snapshot
            changes: dict = {"version": old.version + 1}
            if self._buffers.changed:
                changes["streams"] = self._buffers.take(old.streams)
            if "predicted" in dirty:
                changes |= {"predicted": self._predicted, "predicted_version": old.version + 1}
            if "night" in dirty:
                changes |= {"night": self._night, "night_version": old.version + 1}
            if "health" in dirty and self.health != old.health:
                changes["health"] = self.health
                if status_key(self.health) != status_key(old.health):
                    changes |= {
                        "status": status_html(self.health, self.settings.kafka.bootstrap_servers),
                        "health_version": old.health_version + 1,
                    }
            self._snapshot = replace(old, **changes)
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("a session's listener failed")
