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
and a margin, then twice as many, ...) until older offsets cannot hold a newer row; at most
``history_max_records`` messages a topic, for ``history_timeout_s``. Validation: ``rows``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from isspanel.broker import clients
from isspanel.broker.rows import (
    Collector,
    History,
    HistoryError,
    Kind,
    kind_of,
    moment,
    row_times,
    utc,
)
from isspanel.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["History", "HistoryError", "HistoryReader", "moment"]

POLL_RECORDS = 500  # messages a poll hands over at most
# A fetch returns at least one whole producer batch; beyond that, this many bytes a partition.
FETCH_BYTES = 64 * 1024
PROBE_MESSAGES = 64  # a probe gives up after this many messages without a valid row


class HistoryReader:
    """One short-lived consumer, read_committed, in no group; use it in a ``with``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._fetched: collections.Counter[str] = collections.Counter()  # messages, by topic
        self._topics: dict[str, set[int]] | None = None  # partitions by topic, asked once
        self._kinds: dict[str, Kind] = {}  # what a topic holds, if the caller said (read_many)
        try:
            self._consumer: KafkaConsumer | None = clients.consumer(
                bootstrap_servers=settings.kafka.bootstrap_servers,
                client_id="isspanel-history",
                group_id=None,
                enable_auto_commit=False,
                # Flink writes its topics in transactions: rolled-back rows are never shown.
                isolation_level="read_committed",
                allow_auto_create_topics=False,  # asking about a topic must not create it
                request_timeout_ms=5_000,
                bootstrap_timeout_ms=settings.kafka.connect_timeout_ms,
                reconnect_backoff_max_ms=1_000,
                fetch_max_wait_ms=10,  # it reads only what is there: never wait for more
                max_partition_fetch_bytes=FETCH_BYTES,
                fetch_max_bytes=4 * FETCH_BYTES,
            )
        except (KafkaError, OSError) as exc:
            raise HistoryError(
                f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: {exc}"
            ) from None

    @property
    def fetched(self) -> int:
        """Messages fetched from Kafka by this reader: its bound."""
        return sum(self._fetched.values())

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
                f"reading {topic} from {self.settings.kafka.bootstrap_servers} failed: {exc}"
            ) from None

    def _kind(self, topic: str) -> Kind:
        return self._kinds.get(topic) or kind_of(self.settings, topic)

    def _partitions(self, topic: str) -> list[TopicPartition]:
        if self._topics is None:
            # One metadata request for every topic: later assignments narrow the client's
            # metadata to the assigned topics, and each topic asked then would cost another.
            c = self._consumer
            self._topics = {t: c.partitions_for_topic(t) for t in c.topics()}
        partitions = self._topics.get(topic)
        if not partitions:
            raise HistoryError(
                f"topic {topic} does not exist on {self.settings.kafka.bootstrap_servers}"
            )
        return [TopicPartition(topic, p) for p in sorted(partitions)]

    def retained(self, topic: str) -> tuple[datetime, datetime] | None:
        """The times of the oldest and the newest valid row retained; None if there is none."""
        with self._kafka(topic):
            kind, tps = self._kind(topic), self._partitions(topic)
            begins, ends = self._consumer.beginning_offsets(tps), self._consumer.end_offsets(tps)
            firsts = [
                t for t, _ in self._probe({tp: (begins[tp], ends[tp]) for tp in tps}).values()
            ]
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
        return self.read_many({topic: limit}, at)[topic]

    def read_many(
        self, limits: dict[str, int | None], at: datetime, kinds: dict[str, Kind] | None = None
    ) -> dict[str, History]:
        """Several topics at one moment (``limits``: rows wanted by topic; ``kinds``: what each
        holds, by default the pipeline topic's kind); each step is one request for all their
        partitions, not one per topic."""
        self._kinds.update(kinds or {})
        at, live = moment(at)
        at_ms, s = at.timestamp() * 1000, self.settings
        with self._kafka(", ".join(limits)):
            out: dict[str, History] = {}
            tps: list[TopicPartition] = []
            for topic in limits:
                try:
                    tps += self._partitions(topic)
                except HistoryError as exc:
                    out[topic] = History(topic, at, live=live, note=str(exc))
            start = collections.Counter(self._fetched)
            c = self._consumer
            begins, ends = (c.beginning_offsets(tps), c.end_offsets(tps)) if tps else ({}, {})
            oldest: dict[str, float] = {}
            for tp, (t, _) in self._probe({tp: (begins[tp], ends[tp]) for tp in tps}).items():
                if t is not None:
                    oldest[tp.topic] = min(oldest.get(tp.topic, t), t)
            collectors = {
                topic: Collector(
                    self._kind(topic),
                    at_ms,
                    limit or s.dashboard.buffer_size,
                    s.dashboard.max_message_bytes,
                )
                for topic, limit in limits.items()
                if oldest.get(topic, float("inf")) <= at_ms
            }
            active = [tp for tp in tps if tp.topic in collectors]
            notes = self._back(collectors, begins, self._stops(active, at_ms, begins, ends))
            for topic in limits:
                if topic in out:
                    continue
                first, col = oldest.get(topic), collectors.get(topic)
                fetched = self._fetched[topic] - start[topic]
                earliest = None if first is None else utc(first)
                if col is None:
                    why = "holds no valid row"
                    if earliest is not None:
                        why = f"retains nothing before {earliest:%Y-%m-%d %H:%M:%S} UTC"
                    note = f"topic {topic} {why}"
                    out[topic] = History(topic, at, (), live, fetched=fetched, note=note,
                                         earliest=earliest)  # fmt: skip
                    continue
                out[topic] = History(topic, at, col.rows(), live, col.skipped, col.duplicates,
                                     fetched, notes.get(topic, ""), earliest)  # fmt: skip
                if col.skipped:
                    why = col.reasons[0][:200]
                    log.warning("time travel to %s on %s: %d bad message(s) skipped (%s)",
                                at.isoformat(), topic, col.skipped, why)  # fmt: skip
            return out

    def _stops(self, tps, at_ms: float, begins, ends) -> dict[TopicPartition, int]:
        """Per partition, the first offset after the moment: rows at and after it are later."""
        if not tps:
            return {}
        slack_ms = self.settings.time_travel.slack_s * 1000
        targets = {tp: int(at_ms + 1 + slack_ms * self._kind(tp.topic).flink) for tp in tps}
        found = self._consumer.offsets_for_times(targets)
        stops = {tp: min(ends[tp], found[tp].offset) if found[tp] else ends[tp] for tp in tps}
        checks = self._probe({tp: (stops[tp], ends[tp]) for tp in tps if stops[tp] < ends[tp]})
        for tp, (t, _) in checks.items():
            if t is not None and t <= at_ms:  # the hint is wrong: a row there is not later
                log.debug("%s: a seek by time missed (write times); seeking by row time", tp)
                stops[tp] = self._search(tp, at_ms, begins[tp], ends[tp])
        return stops

    def _search(self, tp, at_ms: float, begin: int, end: int) -> int:
        """The first offset whose rows are all after ``at_ms``, by the rows' own times: gallop
        back from the end (the newest run of a replayed topic wins), then bisect."""
        lo, hi, step = begin, end, 1
        while hi > begin:
            x = max(begin, end - step)
            t, offset = self._probe({tp: (x, hi)})[tp]
            if t is not None and t <= at_ms:
                lo = offset + 1
                break
            hi, step = x, step * 2
        while lo < hi:
            mid = (lo + hi) // 2
            t, offset = self._probe({tp: (mid, hi)})[tp]
            if t is None or t > at_ms:
                hi = mid
            else:
                lo = offset + 1
        return lo

    def _probe(self, ranges) -> dict[TopicPartition, tuple[float | None, int]]:
        """Per partition, the time and offset of the first valid row in [lo, hi); (None, hi)
        if there is none within PROBE_MESSAGES messages."""
        found: dict[TopicPartition, tuple[float, int]] = {}

        def on_message(tp, message) -> bool:
            times = row_times(self._kind(tp.topic), self.settings, message)
            if times:
                found[tp] = (times[0], message.offset)
            return bool(times)

        short = {tp: (lo, min(hi, lo + PROBE_MESSAGES)) for tp, (lo, hi) in ranges.items()}
        self._read(short, on_message, batch=1)  # one message at a time
        return {tp: found.get(tp, (None, hi)) for tp, (_lo, hi) in ranges.items()}

    def _back(self, collectors: dict[str, Collector], begins, stops) -> dict[str, str]:
        """Read backwards from ``stops`` in growing chunks until each topic's newest rows are
        known; the notes of topics cut short, by topic."""
        s, notes = self.settings, {}
        start = collections.Counter(self._fetched)
        deadline = time.monotonic() + s.time_travel.timeout_s
        size = {tp: collectors[tp.topic].limit * 5 // 4 + 16 for tp in stops}
        pending = {tp: stop for tp, stop in stops.items() if stop > begins[tp]}
        while pending:
            ranges = {tp: (max(begins[tp], hi - size[tp]), hi) for tp, hi in pending.items()}
            if not self._read(ranges, lambda tp, m: collectors[tp.topic].add(tp, m), deadline):
                for tp in pending:
                    notes[tp.topic] = (
                        f"stopped after {s.time_travel.timeout_s:g} s: showing what was read"
                    )
                break
            thresholds = {topic: col.threshold() for topic, col in collectors.items()}
            for tp, (lo, _hi) in ranges.items():
                if lo <= begins[tp] or collectors[tp.topic].older_than(tp, thresholds[tp.topic]):
                    del pending[tp]
                elif self._fetched[tp.topic] - start[tp.topic] >= s.time_travel.max_records:
                    notes[tp.topic] = f"stopped after {s.time_travel.max_records:,} messages"
                    del pending[tp]
                else:
                    pending[tp], size[tp] = lo, size[tp] * 2
        return notes

    def _read(self, ranges, on_message, deadline: float | None = None, batch=POLL_RECORDS) -> bool:
        """Hand ``on_message`` each message in [lo, hi) of every partition, until it returns
        True for one; False if the deadline passed first."""
        c = self._consumer
        deadline = deadline or time.monotonic() + self.settings.time_travel.timeout_s
        left = {tp: lo for tp, (lo, hi) in ranges.items() if lo < hi}
        self._assign(left)
        while left:
            if time.monotonic() > deadline:
                return False
            # No more than the ranges still hold: what a poll hands over beyond them is waste.
            wanted = sum(ranges[tp][1] - c.position(tp) for tp in left)
            batches = c.poll(timeout_ms=200, max_records=max(1, min(batch, wanted)))
            done = set()
            for tp, messages in batches.items():
                self._fetched[tp.topic] += len(messages)
                for message in messages if tp in left else ():
                    if message.offset >= ranges[tp][1]:
                        break
                    if on_message(tp, message):
                        done.add(tp)
                        break
            done.update(tp for tp in left if c.position(tp) >= ranges[tp][1])
            if done:
                left = {tp: lo for tp, lo in left.items() if tp not in done}
                self._assign({tp: c.position(tp) for tp in left})
        return True

    def _assign(self, offsets: dict[TopicPartition, int]) -> None:
        # Only the partitions still read are assigned, so a finished one is fetched no more;
        # never pause(): kafka-python 3.0.12 may never fetch a resumed partition again
        # (tests/test_library_contracts.py reproduces it, and fails once that is fixed).
        if offsets:
            self._consumer.assign(list(offsets))
            for tp, offset in offsets.items():
                self._consumer.seek(tp, offset)
