"""The ISS producer: fetch on a fixed rate, validate, publish to Kafka with delivery reports."""

from __future__ import annotations

import collections
import logging
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError

from isspanel.record import InvalidRecord, IssRecord
from isspanel.settings import Settings
from isspanel.sources import Source, SourceError

log = logging.getLogger(__name__)

# Publishing history fast wants big batches: linger lets the sender fill 1 MiB batches.
ACCELERATED_CONFIG = {"linger_ms": 50, "batch_size": 1 << 20}

# All positions share one key, so with several partitions they still stay in order.
RECORD_KEY = b"25544"


@dataclass
class ProducerStats:
    ticks: int = 0
    skipped: int = 0  # ticks that came while a fetch was still running
    fetch_errors: int = 0  # network, HTTP status, timeout
    rejected: int = 0  # answers that failed validation: never published
    accepted: int = 0  # records handed to the publisher: these must all be delivered
    delivered: int = 0  # acknowledged by the broker (acks=all)
    failed: int = 0  # delivery attempts that failed and were queued again


class Publisher:
    """A kafka-python producer that keeps every accepted record until the broker acks it.

    Records wait in an outbox; a failed delivery goes back into it, so a broker that is
    down at start or restarts mid-run delays records but loses none.
    """

    def __init__(self, settings: Settings, stats: ProducerStats | None = None, **config):
        self.settings = settings
        self.stats = stats or ProducerStats()
        self.config = {
            "bootstrap_servers": settings.bootstrap,
            "client_id": "isspanel-producer",
            "acks": "all",
            "enable_idempotence": True,  # retries keep order and add no duplicates
            "linger_ms": 5,
            "delivery_timeout_ms": 30_000,
            "request_timeout_ms": 10_000,
            "max_block_ms": 5_000,
            "reconnect_backoff_max_ms": 2_000,
            **config,
        }
        self._producer: KafkaProducer | None = None
        self._outbox: collections.deque[IssRecord] = collections.deque()
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()  # the fetch thread and the loop both drain
        self._unacked = 0
        self._reset = False
        self._backoff_s = 0.5
        self._next_connect = 0.0

    @property
    def pending(self) -> int:
        """Accepted records not yet acknowledged."""
        with self._lock:
            return len(self._outbox) + self._unacked

    def accept(self, record: IssRecord) -> None:
        self.accept_many([record])

    def accept_many(self, records: list[IssRecord]) -> None:
        with self._lock:
            self._outbox.extend(records)
        self.stats.accepted += len(records)
        self.drain()

    def _connect(self) -> KafkaProducer | None:
        if self._producer is not None and self._reset:
            # After an expired batch the idempotent sequence has a gap the broker will never
            # accept: start a new producer id. Aborted batches come back through _on_error.
            log.info("recreating the Kafka producer after a failed delivery")
            old, self._producer, self._reset = self._producer, None, False
            try:
                old.close(timeout=0)
            except KafkaError:
                # close() flushes first and raises while batches are pending: force the
                # sender down, which fails those batches back into the outbox.
                old._sender.force_close()
        if self._producer is not None:
            return self._producer
        if time.monotonic() < self._next_connect:
            return None
        try:
            self._producer = KafkaProducer(**self.config)
        except (KafkaError, OSError) as exc:
            log.warning(
                "Kafka at %s unavailable (%s); %d record(s) held, retry in %.1f s",
                self.settings.bootstrap,
                exc.__class__.__name__,
                len(self._outbox),
                self._backoff_s,
            )
            self._next_connect = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, 30.0)
            return None
        self._backoff_s = 0.5
        log.info("producing to %s topic %s", self.settings.bootstrap, self.settings.topic)
        return self._producer

    def drain(self) -> None:
        """Send what waits in the outbox, in order, until the producer refuses."""
        with self._drain_lock:
            self._drain()

    def _drain(self) -> None:
        producer = self._connect()
        if producer is None:
            return
        while True:
            with self._lock:
                if not self._outbox:
                    return
                record = self._outbox[0]
            try:
                future = producer.send(self.settings.topic, key=RECORD_KEY, value=record.to_json())
            except KafkaError as exc:
                # Metadata or buffer space not available: keep the record, try next time.
                log.warning("send deferred (%s); %d record(s) held", exc, len(self._outbox))
                return
            with self._lock:
                self._outbox.popleft()
                self._unacked += 1
            future.add_callback(self._on_delivery)
            future.add_errback(self._on_error, record)

    def _on_delivery(self, _metadata) -> None:
        with self._lock:
            self._unacked -= 1
        self.stats.delivered += 1

    def _on_error(self, record: IssRecord, exc: Exception) -> None:
        with self._lock:
            self._unacked -= 1
            self._outbox.appendleft(record)
            self._reset = True
        self.stats.failed += 1
        log.warning("delivery of %s failed (%s): queued again", record.event_time, exc)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Deliver everything accepted so far; True when nothing is left pending."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            self.drain()
            if self._producer is not None:
                try:
                    self._producer.flush(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
                except KafkaError:
                    pass
            if self.pending:
                time.sleep(0.05)
        return self.pending == 0

    def close(self, timeout_s: float = 30.0) -> None:
        if not self.flush(timeout_s):
            log.error("closing with %d record(s) undelivered", self.pending)
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


class IssProducer:
    """Fixed-rate loop: at most one fetch in flight; a tick that finds one running is skipped."""

    def __init__(
        self,
        settings: Settings,
        source: Source,
        publisher: Publisher | None = None,
        accelerated: bool = False,
    ):
        self.settings = settings
        self.source = source
        self.stats = ProducerStats()
        config = ACCELERATED_CONFIG if accelerated else {}
        self.publisher = publisher or Publisher(settings, self.stats, **config)
        self.publisher.stats = self.stats
        self.stop_event = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch")
        self._inflight: Future | None = None
        self._inflight_since = 0.0

    def _fetch_and_accept(self) -> None:
        try:
            record = self.source.fetch()
        except SourceError as exc:
            self.stats.fetch_errors += 1
            log.warning("fetch failed: %s", exc)
            return
        except InvalidRecord as exc:
            self.stats.rejected += 1
            log.warning("rejected answer from %s: %s", self.source.name, exc)
            return
        except EOFError as exc:
            log.info("%s", exc)
            self.stop_event.set()
            return
        self.publisher.accept(record)
        log.info(
            "accepted %s lat=%.4f lon=%.4f (%s)",
            record.event_time,
            record.latitude,
            record.longitude,
            record.source,
        )

    def tick(self) -> None:
        self.stats.ticks += 1
        if self._inflight is not None and not self._inflight.done():
            self.stats.skipped += 1
            log.warning(
                "tick skipped: the fetch started %.1f s ago is still running",
                time.monotonic() - self._inflight_since,
            )
            return
        self._inflight_since = time.monotonic()
        self._inflight = self._executor.submit(self._fetch_and_accept)

    def run(
        self, interval: float | None = None, count: int | None = None, max_ticks: int | None = None
    ) -> ProducerStats:
        """Tick every ``interval`` s until stopped, ``count`` records or ``max_ticks`` ticks."""
        interval = self.settings.interval if interval is None else interval
        log.info(
            "producer: source %s, every %g s, to %s/%s",
            self.source.name,
            interval,
            self.settings.bootstrap,
            self.settings.topic,
        )
        self.publisher.drain()  # connect now, so the first tick is not slowed by it
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            if count is not None and self.stats.accepted >= count:
                break
            if max_ticks is not None and self.stats.ticks >= max_ticks:
                break
            self.tick()
            # A fixed rate: the next tick is due one interval after the last one was due.
            next_tick += interval
            while not self.stop_event.is_set():
                self.publisher.drain()
                remaining = next_tick - time.monotonic()
                if remaining <= 0:
                    break
                if count is not None and self.stats.accepted >= count:
                    break
                self.stop_event.wait(min(remaining, 0.5))
        return self.finish()

    def publish_all(
        self, records: Iterable[IssRecord], progress_every: int = 10_000, chunk: int = 1_000
    ) -> ProducerStats:
        """Accelerated mode: publish ``records`` as fast as the producer takes them."""
        started = time.monotonic()
        batch: list[IssRecord] = []
        reported = 0
        for record in records:
            if self.stop_event.is_set():
                break
            batch.append(record)
            if len(batch) >= chunk:
                self.publisher.accept_many(batch)
                batch = []
            if self.stats.accepted - reported >= progress_every:
                reported = self.stats.accepted
                rate = reported / max(1e-9, time.monotonic() - started)
                log.info("published %d records (%.0f/s)", reported, rate)
        if batch:
            self.publisher.accept_many(batch)
        return self.finish()

    def finish(self) -> ProducerStats:
        if self._inflight is not None:
            try:
                self._inflight.result(timeout=self.settings.read_timeout + 5)
            except TimeoutError:
                log.warning("a fetch is still running at exit; its record is dropped")
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.publisher.close()
        self.source.close()
        log.info("producer stopped: %s", asdict(self.stats))
        return self.stats

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM stop the loop; `finish` then flushes what was accepted."""

        def stop(signum, _frame):
            log.info("%s received: flushing and stopping", signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
