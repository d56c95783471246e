"""One record per moment: the producer publishes a timestamp at most once, never one older
than the newest it published, in this run or (read from the topic's tail) before it."""

from __future__ import annotations

import logging
import time

from kafka import TopicPartition
from kafka.errors import KafkaError

from isspanel.broker import clients
from isspanel.messages import parse_object, skip_reason
from isspanel.record import IssRecord, from_flat, iso_utc
from isspanel.settings import Settings

log = logging.getLogger("isspanel.produce.producer")

TAIL_DEPTH = 20  # records read back per partition, so a bad last message hides nothing
TAIL_TIMEOUT_S = 5.0
REPORT_EVERY_S = 600.0  # a long run says what it skipped this often (if it skipped any)


class Moments:
    """The gate between a source and the publisher; counts what it skips in ``stats``."""

    def __init__(self, stats, newest: int | None = None):
        self.stats = stats  # ProducerStats: duplicates, stale
        self.newest = newest
        self._reported = (0, 0)
        self._reported_at = time.monotonic()

    def seed(self, newest: int | None, where: str) -> None:
        """Start after ``newest`` (already published, found ``where``)."""
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest
            log.info("publishing positions after %s (the newest %s)", iso_utc(newest), where)

    def admit(self, record: IssRecord) -> bool:
        """True if ``record`` is the newest moment yet: it may be published."""
        if self.newest is not None and record.timestamp <= self.newest:
            if record.timestamp == self.newest:
                self.stats.duplicates += 1
                kind = "duplicate"
            else:
                self.stats.stale += 1
                kind = "stale"
            log.debug(
                "%s skipped: %s (%s), newest published %s",
                kind,
                record.event_time,
                record.source,
                iso_utc(self.newest),
            )
            self.report()
            return False
        self.newest = record.timestamp
        return True

    def report(self, final: bool = False) -> None:
        """An INFO summary of what was skipped: at the end, and every REPORT_EVERY_S."""
        counts = (self.stats.duplicates, self.stats.stale)
        if counts == self._reported:
            return
        if not final and time.monotonic() - self._reported_at < REPORT_EVERY_S:
            return
        duplicates = counts[0] - self._reported[0]
        stale = counts[1] - self._reported[1]
        self._reported, self._reported_at = counts, time.monotonic()
        log.info(
            "one record per moment: skipped %d duplicate(s) (a timestamp already published)"
            " and %d stale record(s) (older than the newest published, or a repeated live"
            " answer)%s",
            duplicates,
            stale,
            "" if final else f" in the last {REPORT_EVERY_S / 60:.0f} min",
        )


def newest_moment(value: bytes | None, settings: Settings) -> int:
    """The timestamp of one message of the topic's tail (of any age, but not ahead of the
    clock: a record from the future must not block the ones after it), or InvalidRecord."""
    data = parse_object(value, settings.dashboard.max_message_bytes)
    return from_flat(
        data, max_age_s=10**10, max_skew_s=settings.producer.max_clock_skew_s
    ).timestamp


def newest_on_topic(settings: Settings, timeout_s: float = TAIL_TIMEOUT_S) -> int | None:
    """The newest valid timestamp among the last records of each partition of the topic;
    None if it is empty or absent. Raises KafkaError/OSError when the broker does not answer.

    A short-lived consumer with no group: end offsets minus TAIL_DEPTH, read to the end.
    """
    consumer = clients.consumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        client_id="isspanel-producer-tail",
        enable_auto_commit=False,
        bootstrap_timeout_ms=int(timeout_s * 1000),
        request_timeout_ms=int(timeout_s * 1000),
        reconnect_backoff_max_ms=1_000,
    )
    try:
        partitions = consumer.partitions_for_topic(settings.topics.location)
        if not partitions:
            return None
        tps = [TopicPartition(settings.topics.location, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        todo = {tp: ends[tp] for tp in tps if ends[tp] > begins[tp]}
        for tp in todo:
            consumer.seek(tp, max(begins[tp], ends[tp] - TAIL_DEPTH))
        newest = None
        skipped, why = 0, ""
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=200).values():
                for message in messages:
                    try:
                        ts = newest_moment(message.value, settings)
                    except Exception as exc:  # any message: skipped, never the producer's end
                        skipped, why = skipped + 1, why or skip_reason(exc)
                        continue
                    newest = ts if newest is None else max(newest, ts)
            todo = {tp: end for tp, end in todo.items() if consumer.position(tp) < end}
        if todo:
            raise KafkaError(
                f"the tail of {settings.topics.location} was not read within {timeout_s:g} s"
            )
        if skipped:
            log.warning(
                "the tail of %s holds %d bad message(s), skipped (%s)",
                settings.topics.location,
                skipped,
                why,
            )
        return newest
    finally:
        consumer.close(autocommit=False)
