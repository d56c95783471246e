"""Time travel's Kafka side: a short-lived, bounded reader of a topic as it was at a moment.

The live hub keeps one consumer per server; a page put at a moment opens one of these, reads
back the newest rows up to that moment and closes it.

Finding the moment: the producer stamps each position with its event time, so
``offsets_for_times`` seeks by event time. Flink stamps its rows with the time it writes them
(a little after their time when live; all at once when a job catches up), and a transaction's
commit marker carries the commit time. So a seek by time is a hint, checked against the row
found there: if that row's own time is not after the moment, the reader finds the moment by
the rows' own times instead (galloping back from the end, then bisecting; about 2·log2(n) reads
of one message).

Reading: per partition, backwards from the moment in chunks of offsets (the newest ``limit``
and a margin, then twice as many, ...), until older offsets cannot hold a row newer than those
it has; never more than ``history_max_records`` messages of a topic, nor longer than
``history_timeout_s``. Every message is validated as the live hub validates it (``rows``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Hashable
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from isspanel.broker.rows import History, HistoryError, Kind, kind_of, moment, row_times, utc
from isspanel.record import InvalidRecord
from isspanel.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["History", "HistoryError", "HistoryReader", "moment", "read_at", "retained_range"]

POLL_RECORDS = 500  # messages a poll hands over at most
# A fetch returns at least one whole producer batch; beyond that, this many bytes a partition.
FETCH_BYTES = 64 * 1024
PROBE_MESSAGES = 64  # a probe gives up after this many messages without a valid row


class HistoryReader:
    """One short-lived consumer, read_committed, in no group; use it in a ``with``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.fetched = 0  # messages fetched, all reads
        try:
            self._consumer: KafkaConsumer | None = KafkaConsumer(
                bootstrap_servers=settings.bootstrap,
                client_id="isspanel-history",
                group_id=None,
                enable_auto_commit=False,
                # Flink writes its topics in transactions: rolled-back rows are never shown.
                isolation_level="read_committed",
                allow_auto_create_topics=False,  # asking about a topic must not create it
                request_timeout_ms=5_000,
                bootstrap_timeout_ms=5_000,
                reconnect_backoff_max_ms=1_000,
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=FETCH_BYTES,
                fetch_max_bytes=4 * FETCH_BYTES,
            )
        except (KafkaError, OSError) as exc:
            raise HistoryError(f"Kafka at {settings.bootstrap} is not reachable: {exc}") from None

    @property
    def closed(self) -> bool:
        return self._consumer is None

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close(autocommit=False)

    def __enter__(self) -> HistoryReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _kafka(self, topic: str):
        try:
            yield
        except KafkaError as exc:
            raise HistoryError(
                f"reading {topic} from {self.settings.bootstrap} failed: {exc}"
            ) from None

    def _partitions(self, topic: str) -> list[TopicPartition]:
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            raise HistoryError(f"topic {topic} does not exist on {self.settings.bootstrap}")
        return [TopicPartition(topic, p) for p in sorted(partitions)]

    def retained(self, topic: str) -> tuple[datetime, datetime] | None:
        """The times of the oldest and the newest valid row retained; None if there is none."""
        with self._kafka(topic):
            kind, tps = kind_of(self.settings, topic), self._partitions(topic)
            begins, ends = self._consumer.beginning_offsets(tps), self._consumer.end_offsets(tps)
            firsts = [self._probe(kind, tp, begins[tp], ends[tp])[0] for tp in tps]
            if all(t is None for t in firsts):
                return None
            newest: list[float] = []
            # The last few offsets: the newest row may sit before a commit marker, or poison.
            ranges = {tp: (max(begins[tp], ends[tp] - 16), ends[tp]) for tp in tps}
            self._read(ranges, lambda _tp, m: newest.extend(row_times(kind, self.settings, m)))
            oldest = min(t for t in firsts if t is not None)
            return utc(oldest), utc(max([oldest, *newest]))

    def read(self, topic: str, at: datetime, limit: int | None = None) -> History:
        """The newest ``limit`` (default: the buffer size) valid rows of ``topic`` up to ``at``."""
        at, live = moment(at)
        with self._kafka(topic):
            try:
                tps = self._partitions(topic)
            except HistoryError as exc:
                return History(topic, at, live=live, note=str(exc))
            kind, c = kind_of(self.settings, topic), self._consumer
            begins, ends = c.beginning_offsets(tps), c.end_offsets(tps)
            start = self.fetched
            firsts = [self._probe(kind, tp, begins[tp], ends[tp])[0] for tp in tps]
            oldest = min((t for t in firsts if t is not None), default=None)
            at_ms = at.timestamp() * 1000
            if oldest is None:
                history = History(topic, at, note=f"topic {topic} holds no valid row")
            elif at_ms < oldest:
                note = f"topic {topic} retains nothing before {utc(oldest):%Y-%m-%d %H:%M:%S} UTC"
                history = History(topic, at, note=note)
            else:
                stops = self._stops(kind, tps, at_ms, begins, ends)
                limit = limit or self.settings.buffer_size
                history = self._back(topic, kind, at, begins, stops, limit)
            return dataclasses.replace(
                history,
                live=live,
                earliest=None if oldest is None else utc(oldest),
                fetched=self.fetched - start,
            )

    def _stops(self, kind: Kind, tps, at_ms: float, begins, ends) -> dict[TopicPartition, int]:
        """Per partition, the first offset after the moment: rows at and after it are later."""
        slack_ms = self.settings.history_slack_s * 1000 if kind.flink else 0
        found = self._consumer.offsets_for_times(dict.fromkeys(tps, int(at_ms + slack_ms + 1)))
        stops = {}
        for tp in tps:
            stop = min(ends[tp], found[tp].offset) if found[tp] else ends[tp]
            t, _ = self._probe(kind, tp, stop, ends[tp])
            if t is not None and t <= at_ms:  # the hint is wrong: a row there is not later
                log.debug("%s: a seek by time missed (write times); seeking by row time", tp)
                stop = self._search(kind, tp, at_ms, begins[tp], ends[tp])
            stops[tp] = stop
        return stops

    def _search(self, kind: Kind, tp, at_ms: float, begin: int, end: int) -> int:
        """The first offset whose rows are all after ``at_ms``, by the rows' own times: gallop
        back from the end (the newest run of a replayed topic wins), then bisect."""
        lo, hi, step = begin, end, 1
        while hi > begin:
            x = max(begin, end - step)
            t, offset = self._probe(kind, tp, x, hi)
            if t is not None and t <= at_ms:
                lo = offset + 1
                break
            hi, step = x, step * 2
        while lo < hi:
            mid = (lo + hi) // 2
            t, offset = self._probe(kind, tp, mid, hi)
            if t is None or t > at_ms:
                hi = mid
            else:
                lo = offset + 1
        return lo

    def _probe(self, kind: Kind, tp, offset: int, end: int) -> tuple[float | None, int]:
        """The time and offset of the first valid row in [offset, end); (None, end) if none
        within PROBE_MESSAGES messages."""
        found: list[tuple[float, int]] = []
        stop = min(end, offset + PROBE_MESSAGES)

        def on_message(_tp, message) -> bool:
            found.extend((t, message.offset) for t in row_times(kind, self.settings, message))
            return bool(found)

        self._read({tp: (offset, stop)}, on_message, batch=1)  # one message at a time
        return found[0] if found else (None, end)

    def _back(self, topic: str, kind: Kind, at: datetime, begins, stops, limit: int) -> History:
        """Read backwards from ``stops`` in growing chunks until the newest ``limit`` are known."""
        at_ms, s = at.timestamp() * 1000, self.settings
        seen: dict[Hashable, tuple[float, Any, TopicPartition, int]] = {}
        oldest: dict[TopicPartition, float] = {}
        counts = {"skipped": 0, "duplicates": 0}
        reasons: list[str] = []

        def on_message(tp, message) -> None:
            try:
                row = kind.parse(message.value, s.max_message_bytes)
                t_ms, key = kind.time_ms(row), kind.key(row)
            except InvalidRecord as exc:
                counts["skipped"] += 1
                reasons.append(str(exc))
                return
            oldest[tp] = min(oldest.get(tp, t_ms), t_ms)
            if t_ms > at_ms:
                return
            if key in seen:
                counts["duplicates"] += 1
                _, _, first_tp, first_offset = seen[key]
                if first_tp != tp or first_offset < message.offset:
                    return  # like the live hub, the first written is the one shown
            seen[key] = (t_ms, row, tp, message.offset)

        start, note = self.fetched, ""
        deadline = time.monotonic() + s.history_timeout_s
        size = dict.fromkeys(stops, limit + limit // 4 + 16)
        pending = {tp: stop for tp, stop in stops.items() if stop > begins[tp]}
        while pending:
            ranges = {tp: (max(begins[tp], hi - size[tp]), hi) for tp, hi in pending.items()}
            if not self._read(ranges, on_message, deadline):
                note = f"stopped after {s.history_timeout_s:g} s: showing what was read"
                break
            times = sorted((v[0] for v in seen.values()), reverse=True)
            threshold = times[limit - 1] if len(times) >= limit else float("-inf")
            for tp, (lo, _hi) in ranges.items():
                # Offsets are in time order within a partition: older ones hold older rows.
                if lo <= begins[tp] or oldest.get(tp, float("inf")) < threshold:
                    del pending[tp]
                else:
                    pending[tp], size[tp] = lo, size[tp] * 2
            if pending and self.fetched - start >= s.history_max_records:
                note = f"stopped after {s.history_max_records:,} messages (ISS_HISTORY_MAX_RECORDS)"
                break
        rows = tuple(v[1] for v in sorted(seen.values(), key=lambda v: v[0])[-limit:])
        if counts["skipped"]:
            log.warning("time travel to %s on %s: %d bad message(s) skipped (%s)",
                        at.isoformat(), topic, counts["skipped"], reasons[0][:200])  # fmt: skip
        log.info("time travel to %s on %s: %d row(s) from %d message(s)%s", at.isoformat(),
                 topic, len(rows), self.fetched - start, f"; {note}" if note else "")  # fmt: skip
        return History(topic, at, rows, skipped=counts["skipped"],
                       duplicates=counts["duplicates"], note=note)  # fmt: skip

    def _read(self, ranges, on_message, deadline: float | None = None, batch=POLL_RECORDS) -> bool:
        """Hand ``on_message`` each message in [lo, hi) of every partition, until it returns
        True for one; False if the deadline passed first."""
        c = self._consumer
        deadline = deadline or time.monotonic() + self.settings.history_timeout_s
        c.assign(list(ranges))
        c.resume(*ranges)
        for tp, (lo, _hi) in ranges.items():
            c.seek(tp, lo)
        left = {tp for tp, (lo, hi) in ranges.items() if lo < hi}
        c.pause(*(set(ranges) - left))
        while left:
            if time.monotonic() > deadline:
                return False
            # No more than the ranges still hold: what a poll hands over beyond them is waste.
            wanted = sum(ranges[tp][1] - c.position(tp) for tp in left)
            batches = c.poll(timeout_ms=200, max_records=max(1, min(batch, wanted)))
            for tp, messages in batches.items():
                self.fetched += len(messages)
                hi = ranges[tp][1]
                for message in messages:
                    if message.offset < hi and on_message(tp, message):
                        left.discard(tp)
                        break
            for tp in list(left):
                if c.position(tp) >= ranges[tp][1]:
                    left.discard(tp)
            c.pause(*(set(ranges) - left))  # fetch nothing more from those done
        return True


def read_at(settings: Settings, topic: str, at: datetime, limit: int | None = None) -> History:
    """Open a reader, read ``topic`` at ``at``, close it."""
    with HistoryReader(settings) as reader:
        return reader.read(topic, at, limit)


def retained_range(settings: Settings, topic: str) -> tuple[datetime, datetime] | None:
    """The oldest and newest row time ``topic`` still retains (None if it holds none), for a
    slider's bounds; HistoryError if the topic does not exist."""
    with HistoryReader(settings) as reader:
        return reader.retained(topic)
