"""Publishing to Kafka: every accepted record is kept (in memory and on disk) until acked."""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from isspanel.broker.link import KafkaLink
from isspanel.produce.feed_events import EventQueue, kafka_timestamp_ms
from isspanel.produce.outage import Outage
from isspanel.produce.outbox import Outbox
from isspanel.produce.spool import Spool
from isspanel.produce.stats import ProducerStats
from isspanel.record import IssRecord, iso_utc
from isspanel.settings import Settings

log = logging.getLogger("isspanel.produce.producer")

# All positions share one key, so with several partitions they still stay in order.
RECORD_KEY = b"25544"

REWRITE_LINES = 100_000  # a spool this long, mostly acked, is rewritten with what is pending


class Publisher:
    """A kafka-python producer that keeps every accepted record until the broker acks it.

    Records wait in an outbox (outbox.py) and, when the spool is on, in
    ``ISS_HOME/spool/<topic>.jsonl``. After a failed delivery the producer is replaced and what
    it held goes back to the front of the outbox. A broker down at start or restarting mid-run
    delays records; a crash (kill -9) leaves them in the spool for the next start.
    """

    def __init__(
        self, settings: Settings, stats: ProducerStats | None = None, spool: bool = True, **config
    ):
        self.settings = settings
        self.clock = time.monotonic  # what the outage lines measure: a test moves it on
        self.stats = stats or ProducerStats()
        self.config = {
            "bootstrap_servers": settings.kafka.bootstrap_servers,
            "client_id": "isspanel-producer",
            "acks": "all",
            "enable_idempotence": True,  # retries keep order and add no duplicates
            "linger_ms": 5,
            "delivery_timeout_ms": 20_000,  # a failed batch comes back to the outbox
            "request_timeout_ms": 10_000,
            "max_block_ms": 5_000,
            # Connecting blocks the loop at most this long (ISS_KAFKA_CONNECT_TIMEOUT_S).
            "bootstrap_timeout_ms": settings.kafka.connect_timeout_ms,
            "reconnect_backoff_max_ms": 2_000,
            **config,
        }
        self.outage = Outage(settings.kafka.bootstrap_servers)
        # Both read through self.clock (connects, backoff, acks), which a test may replace.
        self.kafka = KafkaLink(self.config, self._connected, clock=lambda: self.clock())
        self.outbox = Outbox(self.stats, clock=lambda: self.clock())
        self._spool_lock = threading.Lock()  # the spool and the outbox change together
        self._drain_lock = threading.Lock()  # the fetch thread and the loop both drain
        self.spool = Spool.open(settings.home, settings.topics.location) if spool else None
        self.replayed = 0
        self.replayed_newest: int | None = None  # the newest timestamp the spool held
        self.events = EventQueue(settings.topics.events)
        if self.spool is not None:
            records = self.spool.load()
            self.outbox.accept(records, [r.to_json() for r in records])
            self.replayed = self.stats.replayed = len(records)
            self.replayed_newest = max((r.timestamp for r in records), default=None)
            if records:
                log.info("%d record(s) left in %s are sent first", len(records), self.spool.path)

    @property
    def pending(self) -> int:
        """Accepted records not yet acknowledged."""
        return self.outbox.pending

    def accept(self, record: IssRecord) -> None:
        self.accept_many([record])

    def accept_many(self, records: list[IssRecord]) -> None:
        """Keep ``records`` (on disk first) and send them if the broker takes them now."""
        payloads = [r.to_json() for r in records]
        with self._spool_lock:
            if self.spool is not None:
                self.spool.append(payloads)
            self.outbox.accept(records, payloads)
        self.stats.accepted += len(records)
        # From the fetch thread: never wait for the loop's drain, never block on connecting.
        self.drain(wait=False)

    def drop_published(self, newest: int, topic: str) -> None:
        """Forget what the spool replays at or before ``newest``, the newest timestamp on
        ``topic``: the broker had it, but the last run ended before it tidied the spool."""
        with self._spool_lock:
            dropped = self.outbox.drop_through(newest)
            if dropped and self.spool is not None:
                self.spool.rewrite([e.payload for e in self.outbox.held()])
        if dropped:
            self.replayed -= dropped
            self.stats.replayed -= dropped
            log.info(
                "%d record(s) of the spool are on %s already (its newest is %s): not sent again",
                dropped,
                topic,
                iso_utc(newest),
            )

    def drain(self, wait: bool = True) -> None:
        """Send what waits in the outbox, in order, until the producer refuses.

        ``wait=False``: only if nobody else is draining, and only on a connected producer.
        """
        while self._drain_lock.acquire(blocking=wait):
            try:
                producer = self._connect() if wait else self.kafka.producer
                emptied = producer is not None and self._send(producer)
                if producer is not None:
                    self.events.send(producer)
                self._tidy_spool()
                self._watch()
            finally:
                self._drain_lock.release()
            # A record accepted while we held the lock found it taken: send it now.
            if not (emptied and self.outbox.waiting):
                return

    def _connect(self) -> KafkaProducer | None:
        silent_s = self.config["delivery_timeout_ms"] / 1000 + 10
        if self.clock() - self.outbox.oldest_sent_at() > silent_s:  # it will never report
            self.kafka.renew(f"no delivery report for {silent_s:g} s", self.kafka.generation)
        why = self.kafka.renewal()
        if why:
            log.info("starting a new Kafka producer (%s)", why)
            self.outbox.take_back()  # what it holds: to the front of the outbox
            self.kafka.replace()  # its later reports are stale
        return self.kafka.get()

    def _connected(self) -> None:
        log.info(
            "producing to %s topic %s",
            self.settings.kafka.bootstrap_servers,
            self.settings.topics.location,
        )
        self.drain()  # what waited for the connection

    def _send(self, producer: KafkaProducer) -> bool:
        """True when the outbox was emptied; False when the producer refused a record, or
        failed one: it is replaced before anything more is sent."""
        generation = self.kafka.generation
        while not self.kafka.renewal():
            entry = self.outbox.next()
            if entry is None:
                return True
            try:
                future = producer.send(
                    self.settings.topics.location,
                    key=RECORD_KEY,
                    value=entry.payload,
                    timestamp_ms=kafka_timestamp_ms(entry.record.timestamp),
                )
            except KafkaTimeoutError as exc:
                # No metadata or no buffer space within max_block_ms: keep it, try next time.
                self.kafka.note_trouble(type(exc).__name__)
                log.debug("send deferred (%s); %d record(s) held", exc, self.pending)
                return False
            except KafkaError as exc:
                self.kafka.renew(f"it refused a record: {exc}", generation)
                return False
            self.outbox.sent(entry, generation)
            future.add_callback(self._on_delivery, entry.id, generation)
            future.add_errback(self._on_error, entry.id, generation)
        return False

    def publish_event(self, event: dict) -> None:
        """An event row for the events topic, sent with the next drain (memory only)."""
        self.events.add(event)

    # kafka-python calls these two from its I/O thread: they change only what takes a lock.

    def _on_delivery(self, entry_id: int, generation: int, _metadata) -> None:
        self.outbox.acked(entry_id, generation)

    def _on_error(self, entry_id: int, generation: int, exc: Exception) -> None:
        entry = self.outbox.failed(entry_id, generation)
        if entry is None:
            return
        self.kafka.note_trouble(type(exc).__name__)
        # A producer that failed a batch may not recover in place (kafka-python 3.0.12 was
        # seen to stall after a broker restart): a new one starts with a new producer id.
        self.kafka.renew(f"a delivery failed: {type(exc).__name__}", generation)
        log.debug("delivery of %s failed (%s): queued again", entry.record.event_time, exc)

    def _tidy_spool(self) -> None:
        """Empty the spool once everything is acked; rewrite it when most of it is."""
        if self.spool is None or not self.spool.lines:
            return
        with self._spool_lock:  # no record is accepted meanwhile: pending only falls
            pending = self.outbox.pending
            # Rewriting costs a sort and two fsyncs: only for long accelerated runs.
            if pending and self.spool.lines < max(REWRITE_LINES, 4 * pending):
                return
            keep = self.outbox.held()
            if keep:
                self.spool.rewrite([e.payload for e in keep])
            else:
                self.spool.clear()

    def _watch(self) -> None:
        """Say when the broker goes away, every minute while it stays away, and when it is back."""
        now = self.clock()
        trouble = self.kafka.take_trouble()
        pending = self.pending
        outage = self.outage
        if outage.since is None:
            stall_s = self.settings.producer.outage_after_s  # no ack this long: broker away
            if trouble or (pending and now - self.outbox.progress_at > stall_s):
                reason = trouble or f"no acknowledgement for {stall_s:g} s"
                outage.start(now, reason, pending, self.stats.delivered)
            return
        connected = self.kafka.producer is not None and self.kafka.connected_at > outage.since
        back = self.outbox.acked_at > outage.since or (not pending and connected)
        if back and outage.back_from is None:
            outage.back_from = self.outbox.mark()  # what was accepted until now was held up
        if back and self.outbox.oldest_id() >= outage.back_from:
            outage.end(now, self.stats.delivered)
        else:
            outage.remind(now, pending)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Deliver everything accepted so far; True when nothing is left pending."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            self.drain()
            if (producer := self.kafka.producer) is not None:
                try:
                    producer.flush(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
                except KafkaError:
                    pass
            if self.pending:
                time.sleep(0.05)
        self.drain(wait=False)  # empties the spool, reports the recovery
        return self.pending == 0

    def close(self, timeout_s: float = 30.0) -> None:
        """Deliver what is pending (for up to ``timeout_s``), then close; what is left then
        stays in the spool for the next start."""
        self.flush(timeout_s)
        self.kafka.close()
        held = self.outbox.held()
        if held and self.spool is not None:
            self.spool.rewrite([e.payload for e in held])  # what is left, once
            log.warning(
                "stopping with %d record(s) undelivered: kept in %s for the next start",
                len(held),
                self.spool.path,
            )
        elif held:
            log.error("stopping with %d record(s) undelivered and no spool: lost", len(held))
        if self.spool is not None:
            self.spool.close(remove=not held)
            self.spool = None
