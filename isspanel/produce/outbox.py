"""The producer's outbox: every accepted record, in acceptance order, until the broker acks it.

An entry waits, is sent (in flight with one KafkaProducer, named by its generation), and is then
acked (gone) or failed. A failed entry, and every entry in flight with a producer that is being
replaced, comes back: it is sent again ahead of newer ones, in acceptance order. A report from
a replaced producer is stale and changes nothing.

One lock guards it all: kafka-python calls `acked` and `failed` from its I/O thread, while the
fetch thread accepts and the loop sends.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from isspanel.produce.stats import ProducerStats
from isspanel.record import IssRecord


class Entry(NamedTuple):
    id: int  # acceptance order
    record: IssRecord
    payload: bytes


class Sent(NamedTuple):
    entry: Entry
    generation: int  # which KafkaProducer has it
    at: float


class Outbox:
    """Accepted records until acked; counts deliveries and failures in ``stats``."""

    def __init__(self, stats: ProducerStats, clock: Callable[[], float] = time.monotonic):
        self.stats = stats
        self.clock = clock
        self._lock = threading.Lock()
        self._next_id = 0
        self._waiting: collections.deque[Entry] = collections.deque()
        self._back: list[Entry] = []  # failed or taken back: waiting again, merged by `next`
        self._in_flight: dict[int, Sent] = {}  # in send order
        self.acked_at = 0.0  # the last ack
        self.progress_at = clock()  # the last ack, or when the outbox stopped being empty

    def accept(self, records: Sequence[IssRecord], payloads: Sequence[bytes]) -> None:
        """Keep ``records`` (their ``payloads`` are what is sent), after everything kept so far."""
        with self._lock:
            if not self._pending():
                self.progress_at = self.clock()
            for record, payload in zip(records, payloads, strict=True):
                self._waiting.append(Entry(self._next_id, record, payload))
                self._next_id += 1

    def next(self) -> Entry | None:
        """The entry to send next, or None when none waits (it stays until `sent`)."""
        with self._lock:
            if self._back:  # first again, merged in acceptance order
                back, self._back = self._back, []
                newest = max(e.id for e in back)
                while self._waiting and self._waiting[0].id < newest:
                    back.append(self._waiting.popleft())
                self._waiting.extendleft(sorted(back, reverse=True))
            return self._waiting[0] if self._waiting else None

    def sent(self, entry: Entry, generation: int) -> None:
        """``entry`` (what `next` gave) is in flight with producer ``generation``."""
        with self._lock:
            if not self._waiting or self._waiting[0].id != entry.id:
                raise ValueError(f"entry {entry.id} is not the next one to send")
            self._waiting.popleft()
            self._in_flight[entry.id] = Sent(entry, generation, self.clock())

    def acked(self, entry_id: int, generation: int) -> bool:
        """The broker has it; False for a stale report (its producer was replaced)."""
        with self._lock:
            if self._taken(entry_id, generation) is None:
                return False
            self.acked_at = self.progress_at = self.clock()
            self.stats.delivered += 1
            return True

    def failed(self, entry_id: int, generation: int) -> Entry | None:
        """Its delivery failed: it waits again. The entry, or None for a stale report."""
        with self._lock:
            entry = self._taken(entry_id, generation)
            if entry is not None:
                self._back.append(entry)
                self.stats.failed += 1
            return entry

    def take_back(self) -> int:
        """Everything in flight waits again (its producer is being replaced); how many."""
        with self._lock:
            taken = [sent.entry for sent in self._in_flight.values()]
            self._back.extend(taken)
            self._in_flight.clear()
            return len(taken)

    def drop_through(self, timestamp: int) -> int:
        """Forget the waiting entries whose record is at or before ``timestamp``; how many."""
        with self._lock:
            self._waiting.extend(self._back)
            self._back = []
            keep = sorted(e for e in self._waiting if e.record.timestamp > timestamp)
            dropped = len(self._waiting) - len(keep)
            self._waiting = collections.deque(keep)
            return dropped

    def _taken(self, entry_id: int, generation: int) -> Entry | None:
        """The entry a report is about, unless a replaced producer sends it (lock held)."""
        sent = self._in_flight.get(entry_id)
        if sent is None or sent.generation != generation:
            return None
        del self._in_flight[entry_id]
        return sent.entry

    def _pending(self) -> int:
        return len(self._waiting) + len(self._back) + len(self._in_flight)

    @property
    def pending(self) -> int:
        """Accepted entries not yet acked."""
        with self._lock:
            return self._pending()

    @property
    def waiting(self) -> int:
        """Entries waiting to be sent, not counting those that came back since the last `next`."""
        with self._lock:
            return len(self._waiting)

    def held(self) -> list[Entry]:
        """Every pending entry, in acceptance order: what the spool must keep."""
        with self._lock:
            return sorted(
                [*self._back, *self._waiting, *(s.entry for s in self._in_flight.values())]
            )

    def oldest_id(self) -> float:
        """The acceptance id of the oldest pending entry; infinity when none is."""
        with self._lock:
            ids = [e.id for e in self._back] + [s.entry.id for s in self._in_flight.values()]
            if self._waiting:
                ids.append(self._waiting[0].id)  # the waiting ones are in acceptance order
        return min(ids, default=float("inf"))

    def oldest_sent_at(self) -> float:
        """When the oldest entry in flight was sent; infinity when none is."""
        with self._lock:
            return next(iter(self._in_flight.values())).at if self._in_flight else float("inf")

    def mark(self) -> int:
        """An id that every entry accepted from now on has or exceeds, and none before."""
        with self._lock:
            return self._next_id
