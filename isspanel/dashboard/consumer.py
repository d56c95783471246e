"""The dashboard's one Kafka consumer per server process, feeding the hub from a thread."""

from __future__ import annotations

import logging
import os
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from isspanel import pipeline_state
from isspanel.broker import clients
from isspanel.dashboard.health import describe
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.streams import Stream
from isspanel.geo import places
from isspanel.settings import Settings

log = logging.getLogger(__name__)

FETCH_WAIT_MS = 500  # Kafka's default
POLL_MAX_S = 1.0  # a poll returns once records come: waiting longer costs no latency
NIGHT_EVERY_S = 60.0
# A consumer's first contact with the cluster, given up after this (then retried, backing off).
# kafka-python's 30 s default held a server's stop for all of stop()'s 5 s when no broker
# answered (its constructor cannot be interrupted), and the hub's liveness clock with it.
BOOTSTRAP_MS = 2_000


class HubConsumer:
    """Polls the four topics and feeds ``hub``; reconnects forever, never dies of a message."""

    def __init__(self, hub: StreamHub):
        self.hub = hub
        self.settings = hub.settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="isspanel-hub", daemon=True)
        thread = self._thread
        self.hub.alive(thread.is_alive)
        self._thread.start()
        s = self.settings
        topics = ", ".join(backfill(s, self.hub.streams))
        log.info(
            "dashboard consumer: %s topics %s (group %s)",
            s.kafka.bootstrap_servers,
            topics,
            s.dashboard.group,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _consumer(self) -> KafkaConsumer:
        return clients.consumer(
            bootstrap_servers=self.settings.kafka.bootstrap_servers,
            # Its own group, apart from Flink's; offsets are positioned by hand (assign),
            # so every server process (--num-procs) sees every record.
            group_id=self.settings.dashboard.group,
            client_id="isspanel-dashboard",
            enable_auto_commit=False,
            bootstrap_timeout_ms=BOOTSTRAP_MS,
            request_timeout_ms=5_000,
            reconnect_backoff_max_ms=2_000,
            # The broker answers a fetch as soon as it has a record (fetch_min_bytes=1): this
            # bounds only an empty one. At 50 ms an idle consumer made 20 round trips a second
            # (~20 ms of CPU a second: the server's whole cost of a record at 1/s).
            fetch_max_wait_ms=FETCH_WAIT_MS,
            # Flink writes its topics in transactions (exactly once): only committed rows.
            isolation_level="read_committed",
        )

    def _assign(self, consumer: KafkaConsumer, assigned: dict[str, int]) -> bool:
        """Assign the topics that exist and are not yet assigned; backfill their history."""
        back = backfill(self.settings, self.hub.streams)
        existing = consumer.topics()
        new = [t for t in back if t in existing and t not in assigned]
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
            consumer.seek(tp, max(begins[tp], ends[tp] - back[tp.topic]))
        self.hub.set_health(assigned=tuple(sorted(assigned)))
        log.info("dashboard consumer assigned %s", ", ".join(new))
        return True

    def _run(self) -> None:
        try:  # now, or the first record's readout (and every page) would wait for it
            places.preload()
        except (OSError, ValueError) as exc:  # a broken install: said once here, and the
            log.warning("country outlines unreadable: %s", exc)  # consumer runs on
        backoff = 0.5
        while not self._stop.is_set():
            self.hub.beat()
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
                    self.hub.beat()
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
        night_at = time.monotonic()
        while not self._stop.is_set():
            self.hub.beat()
            # Up to the next health check: a quiet loop wakes once a second, not five times.
            wait_s = min(POLL_MAX_S, max(0.0, next_check - time.monotonic()))
            batches = (
                consumer.poll(timeout_ms=int(wait_s * 1000), max_records=2_000) if assigned else {}
            )
            if not assigned:
                self._stop.wait(0.5)
            for tp, messages in batches.items():
                for message in messages:
                    self.hub.ingest(tp.topic, message.value)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.settings.dashboard.health_s
                self._assign(consumer, assigned)
                self.hub.set_health(pipeline=pipeline_state.read(self.settings.home))
                self._refresh_health(consumer)
                self.hub.refresh_status()
            if time.monotonic() - night_at > NIGHT_EVERY_S:
                night_at = time.monotonic()
                self.hub.update_night()
            self.hub.publish()

    def _refresh_health(self, consumer: KafkaConsumer) -> None:
        tps = list(consumer.assignment())
        try:
            ends = consumer.end_offsets(tps) if tps else {}
            lag = sum(max(0, ends[tp] - consumer.position(tp)) for tp in tps)
        except (KafkaError, OSError) as exc:
            self._set_connected(False, describe(exc))
            return
        self.hub.set_health(lag=lag)
        self._set_connected(True, "")

    def _set_connected(self, connected: bool, error: str) -> None:
        changed = self.hub.health.kafka_connected != connected
        self.hub.set_health(kafka_connected=connected, kafka_error=error)
        if changed:
            (log.info if connected else log.warning)(
                "dashboard consumer %s %s",
                "connected to" if connected else "lost",
                self.settings.kafka.bootstrap_servers,
            )
            self.hub.publish()


def backfill(settings: Settings, streams: tuple[Stream, ...]) -> dict[str, int]:
    """The offsets to read back, by topic: each stream's rows kept, so a new browser sees
    history at once. Flink writes its topics in transactions, and commit markers take offsets
    too: a row costs at most two there, plus the rows a crash rolled back (a few): read
    further back; the hub's buffers keep the last rows."""
    return {
        s.topic(settings): 2 * s.keep(settings) + 64 if s.kind.flink else s.keep(settings)
        for s in streams
    }


_SERVED: tuple[int, StreamHub, HubConsumer] | None = None
_SERVED_LOCK = threading.Lock()


def get_hub(settings: Settings | None = None) -> StreamHub:
    """The server process's single hub and its consumer (started on first use)."""
    global _SERVED
    with _SERVED_LOCK:
        # `panel serve --num-procs N` forks after loading the app: a hub inherited from the
        # parent has no consumer thread in this process, so each process starts its own.
        if _SERVED is None or _SERVED[0] != os.getpid():
            hub = StreamHub(settings or Settings.from_env())
            consumer = HubConsumer(hub)
            consumer.start()
            _SERVED = (os.getpid(), hub, consumer)
        return _SERVED[1]


def stop_hub() -> None:
    global _SERVED
    with _SERVED_LOCK:
        if _SERVED is not None and _SERVED[0] == os.getpid():
            _SERVED[2].stop()
        _SERVED = None
