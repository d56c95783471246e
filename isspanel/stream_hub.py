"""One Kafka consumer per dashboard server, fanned out to every browser session.

The consumer thread keeps ring buffers of the latest records and tells subscribed
sessions that something changed; each session then schedules its own update on its
document's event loop (``add_next_tick_callback``) and reads a snapshot.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from isspanel import flink_rows
from isspanel.orbit import ground_track, load_tle, night_polygon
from isspanel.record import InvalidRecord, IssRecord, from_flat
from isspanel.settings import Settings

log = logging.getLogger(__name__)

Listener = Callable[[frozenset[str]], None]

# A poll loop that has not completed a pass for this long is stalled: pages say so.
STALL_S = 10.0
SPEED_BUFFER = 600
STATS_BUFFER = 24
EVENTS_BUFFER = 24


@dataclass
class Health:
    kafka_connected: bool = False
    kafka_error: str = "connecting…"
    lag: int | None = None
    records: int = 0
    skipped: int = 0
    last_record_at: float | None = None  # wall time the last valid position arrived
    last_source: str | None = None
    sessions: int = 0
    assigned: list[str] = field(default_factory=list)
    stalled_s: int | None = None  # whole seconds since the poll loop's last pass, once stalled


def describe(exc: BaseException) -> str:
    """An exception in one line with its class named once (kafka-python's str() has it)."""
    text = str(exc)
    name = exc.__class__.__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name


@dataclass
class Snapshot:
    positions: list[IssRecord]
    speeds: list[dict]
    stats: list[dict]
    events: list[dict]
    predicted: list[tuple[float, float, float]]
    night: tuple[list[float], list[float]]
    version: int = 0  # bumps with every new position: lets sessions share one rendering


class StreamHub:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.positions: deque[IssRecord] = deque(maxlen=settings.buffer_size)
        self.speeds: deque[dict] = deque(maxlen=SPEED_BUFFER)
        self.stats: deque[dict] = deque(maxlen=STATS_BUFFER)
        self.events: deque[dict] = deque(maxlen=EVENTS_BUFFER)
        self.predicted: list[tuple[float, float, float]] = []
        self.night: tuple[list[float], list[float]] = night_polygon(time.time())
        self.health = Health()
        self.version = 0
        self._predicted_at = 0.0
        self._night_at = time.time()
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_pass = time.monotonic()  # when the consumer thread last made progress
        try:
            self._satellite = load_tle(settings.tle_path).satellite
        except (OSError, ValueError) as exc:
            log.warning("no TLE for the predicted orbit (%s)", exc)
            self._satellite = None

    # -- sessions --------------------------------------------------------------
    def subscribe(self, listener: Listener) -> int:
        with self._lock:
            token = next(self._ids)
            self._listeners[token] = listener
            self.health.sessions = len(self._listeners)
        return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._listeners.pop(token, None)
            self.health.sessions = len(self._listeners)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                list(self.positions),
                list(self.speeds),
                list(self.stats),
                list(self.events),
                list(self.predicted),
                self.night,
                self.version,
            )

    def health_snapshot(self) -> Health:
        """A copy of the link health alone: cheap enough for every session's 1-s clock.

        It also judges the consumer thread itself: dead, or no pass of its poll loop for
        more than STALL_S, is reported as stalled whatever the last Kafka state was.
        """
        with self._lock:
            health = Health(**{**self.health.__dict__, "assigned": list(self.health.assigned)})
        idle = time.monotonic() - self._last_pass
        thread = self._thread
        if thread is not None and not thread.is_alive():
            health.stalled_s = int(idle)
            health.kafka_error = "the consumer thread has stopped"
        elif idle > STALL_S:
            health.stalled_s = int(idle)
        return health

    def _notify(self, kinds: set[str]) -> None:
        with self._lock:
            listeners = list(self._listeners.items())
        frozen = frozenset(kinds)
        for token, listener in listeners:
            try:
                listener(frozen)
            except Exception:
                log.exception("session listener %s failed: unsubscribing it", token)
                self.unsubscribe(token)

    # -- records ---------------------------------------------------------------
    def ingest(self, topic: str, value: bytes | None) -> str | None:
        """Validate and buffer one message; return what kind changed, or None if skipped.

        Never raises: whatever one message holds, it is skipped and counted, and the
        consumer goes on with the next.
        """
        s = self.settings
        try:
            if topic == s.topic:
                if value is not None and len(value) > s.max_message_bytes:
                    raise InvalidRecord(f"message of {len(value):,} bytes is over the limit")
                record = from_flat(value, max_age_s=10**10)
                with self._lock:
                    self.positions.append(record)
                    self.version += 1
                    self.health.records += 1
                    self.health.last_record_at = time.time()
                    self.health.last_source = record.source
                self._update_predicted(record.timestamp)
                return "positions"
            kind, validate, target = {
                s.speed_topic: ("speeds", flink_rows.speed_row, self.speeds),
                s.stats_topic: ("stats", flink_rows.stats_row, self.stats),
            }.get(topic, ("events", flink_rows.event_row, self.events))
            row = validate(flink_rows.parse_json_object(value, s.max_message_bytes))
            with self._lock:
                target.append(row)
            return kind
        except InvalidRecord as exc:
            reason = str(exc)
        except Exception as exc:  # one message must never stop the consumer
            reason = f"{exc.__class__.__name__}: {exc}"
        with self._lock:
            self.health.skipped += 1
        log.warning("skipped a bad message on %s: %s", topic, reason[:200])
        return None

    def _update_predicted(self, ts: int) -> None:
        # The next orbit, recomputed at most once a minute of record time.
        if self._satellite is None or abs(ts - self._predicted_at) < 60:
            return
        try:
            track = ground_track(self._satellite, ts, minutes=93, step_s=30)
        except ValueError as exc:
            log.warning("predicted orbit unavailable: %s", exc)
            return
        with self._lock:
            self.predicted = track
            self._predicted_at = ts

    # -- the consumer thread -----------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="isspanel-hub", daemon=True)
        self._thread.start()
        log.info(
            "dashboard consumer: %s topics %s, %s, %s, %s (group %s)",
            self.settings.bootstrap,
            self.settings.topic,
            self.settings.speed_topic,
            self.settings.stats_topic,
            self.settings.events_topic,
            self.settings.dashboard_group,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            # Its own group, apart from Flink's; offsets are positioned by hand (assign),
            # so every server process (--num-procs) sees every record.
            group_id=self.settings.dashboard_group,
            client_id="isspanel-dashboard",
            enable_auto_commit=False,
            request_timeout_ms=5_000,
            reconnect_backoff_max_ms=2_000,
            fetch_max_wait_ms=50,  # latency over batching: a record a minute needs no batches
        )

    def _assign(self, consumer: KafkaConsumer, assigned: dict[str, int]) -> bool:
        """Assign the topics that exist and are not yet assigned; backfill their history."""
        s = self.settings
        depth = {
            s.topic: s.buffer_size,
            s.speed_topic: SPEED_BUFFER,
            s.stats_topic: STATS_BUFFER,
            s.events_topic: EVENTS_BUFFER,
        }
        existing = consumer.topics()
        new = [t for t in depth if t in existing and t not in assigned]
        if not new:
            return False
        tps = list(consumer.assignment())
        fresh = []
        for topic in new:
            partitions = consumer.partitions_for_topic(topic) or set()
            fresh += [TopicPartition(topic, p) for p in sorted(partitions)]
            assigned[topic] = len(partitions)
        consumer.assign(tps + fresh)
        ends = consumer.end_offsets(fresh)
        begins = consumer.beginning_offsets(fresh)
        for tp in fresh:
            # Backfill: the last `depth` records, so a new browser sees history at once.
            consumer.seek(tp, max(begins[tp], ends[tp] - depth[tp.topic]))
        with self._lock:
            self.health.assigned = sorted(assigned)
        log.info("dashboard consumer assigned %s", ", ".join(new))
        return True

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self._last_pass = time.monotonic()
            consumer = None
            try:
                consumer = self._consumer()
                assigned: dict[str, int] = {}
                self._assign(consumer, assigned)
                self._set_connected(True, "")
                backoff = 0.5
                self._loop(consumer, assigned)
            except Exception as exc:  # the consumer must outlive any failure
                self._set_connected(False, describe(exc))
                if isinstance(exc, KafkaError | OSError):
                    log.warning(
                        "dashboard consumer: %s; retrying in %.1f s", describe(exc), backoff
                    )
                else:
                    log.exception("dashboard consumer failed; restarting it in %.1f s", backoff)
                # Waiting in short steps keeps the liveness clock honest while we back off.
                deadline = time.monotonic() + backoff
                while not self._stop.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                    self._last_pass = time.monotonic()
                    if time.monotonic() >= deadline:
                        break
                backoff = min(backoff * 2, 8.0)
            finally:
                if consumer is not None:
                    try:
                        consumer.close(autocommit=False)
                    except Exception:
                        pass

    def _loop(self, consumer: KafkaConsumer, assigned: dict[str, int]) -> None:
        next_check = time.monotonic()
        while not self._stop.is_set():
            self._last_pass = time.monotonic()
            batches = consumer.poll(timeout_ms=200, max_records=2_000) if assigned else {}
            if not assigned:
                self._stop.wait(0.5)
            changed: set[str] = set()
            for tp, messages in batches.items():
                for message in messages:
                    kind = self.ingest(tp.topic, message.value)
                    if kind:
                        changed.add(kind)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 2.0
                if self._assign(consumer, assigned):
                    changed.add("health")
                self._refresh_health(consumer)
                changed.add("health")
            if time.time() - self._night_at > 60:
                self._night_at = time.time()
                with self._lock:
                    self.night = night_polygon(self._night_at)
                changed.add("night")
            if changed:
                self._notify(changed)

    def _refresh_health(self, consumer: KafkaConsumer) -> None:
        tps = list(consumer.assignment())
        try:
            ends = consumer.end_offsets(tps) if tps else {}
            lag = sum(max(0, ends[tp] - consumer.position(tp)) for tp in tps)
        except (KafkaError, OSError) as exc:
            self._set_connected(False, describe(exc))
            return
        with self._lock:
            self.health.lag = lag
        self._set_connected(True, "")

    def _set_connected(self, connected: bool, error: str) -> None:
        with self._lock:
            changed = self.health.kafka_connected != connected
            self.health.kafka_connected = connected
            self.health.kafka_error = error
        if changed:
            (log.info if connected else log.warning)(
                "dashboard consumer %s %s",
                "connected to" if connected else "lost",
                self.settings.bootstrap,
            )
            self._notify({"health"})


_HUB: StreamHub | None = None
_HUB_PID: int | None = None
_HUB_LOCK = threading.Lock()


def get_hub(settings: Settings | None = None) -> StreamHub:
    """The server process's single hub (started by app_hooks.on_server_loaded, or on first use)."""
    global _HUB, _HUB_PID
    with _HUB_LOCK:
        # `panel serve --num-procs N` forks after loading the app: a hub inherited from the
        # parent has no consumer thread in this process, so each process starts its own.
        if _HUB is None or os.getpid() != _HUB_PID:
            _HUB = StreamHub(settings or Settings.from_env())
            _HUB_PID = os.getpid()
            _HUB.start()
        return _HUB


def stop_hub() -> None:
    global _HUB
    with _HUB_LOCK:
        if _HUB is not None:
            _HUB.stop()
            _HUB = None
