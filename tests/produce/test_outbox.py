"""The producer's outbox (isspanel.produce.outbox) as a plain object: no broker, a clock it is
given, and kafka-python's I/O thread played by a thread of the test."""

from __future__ import annotations

import queue
import threading

import pytest

from isspanel.produce.outbox import Outbox
from isspanel.produce.stats import ProducerStats
from isspanel.record import IssRecord

START = 1_795_680_000


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def records(n: int, first: int = 0) -> list[IssRecord]:
    return [IssRecord(START + 60 * i, 1.0, 2.0, "sgp4") for i in range(first, first + n)]


def outbox_with(n: int) -> tuple[Outbox, ProducerStats, Clock]:
    stats, clock = ProducerStats(), Clock()
    outbox = Outbox(stats, clock)
    kept = records(n)
    outbox.accept(kept, [r.to_json() for r in kept])
    return outbox, stats, clock


def send(outbox: Outbox, generation: int = 0, n: int | None = None) -> list[int]:
    """Send what waits (``n`` at most), as the publisher's loop does; the ids sent."""
    ids = []
    while (n is None or len(ids) < n) and (entry := outbox.next()) is not None:
        outbox.sent(entry, generation)
        ids.append(entry.id)
    return ids


def test_an_entry_waits_is_sent_then_acked():
    outbox, stats, clock = outbox_with(3)
    assert (outbox.pending, outbox.waiting) == (3, 3)
    assert [e.record.timestamp for e in outbox.held()] == [START, START + 60, START + 120]
    assert outbox.held()[0].payload == records(1)[0].to_json()
    clock.now = 105.0
    assert send(outbox) == [0, 1, 2]
    assert outbox.next() is None and outbox.waiting == 0 and outbox.pending == 3
    assert outbox.oldest_sent_at() == 105.0
    clock.now = 107.0
    assert outbox.acked(1, 0) and outbox.acked(0, 0)
    assert (outbox.pending, stats.delivered, outbox.acked_at, outbox.progress_at) == (
        1,
        2,
        107.0,
        107.0,
    )
    assert outbox.oldest_id() == 2
    assert not outbox.acked(1, 0)  # once only
    assert outbox.acked(2, 0) and outbox.pending == 0 and stats.delivered == 3
    assert outbox.oldest_id() == float("inf") and outbox.oldest_sent_at() == float("inf")


def test_progress_starts_when_the_outbox_stops_being_empty():
    stats, clock = ProducerStats(), Clock()
    outbox = Outbox(stats, clock)
    clock.now = 200.0
    outbox.accept(records(1), [b"a"])
    assert outbox.progress_at == 200.0
    clock.now = 300.0
    outbox.accept(records(1, first=1), [b"b"])  # not empty: still waiting since 200
    assert outbox.progress_at == 200.0


def test_a_failed_entry_is_sent_again_ahead_of_newer_ones():
    outbox, stats, _clock = outbox_with(5)
    assert send(outbox, n=3) == [0, 1, 2]
    failed = outbox.failed(1, 0)
    assert failed is not None and failed.id == 1 and stats.failed == 1
    assert outbox.pending == 5  # nothing lost
    assert outbox.oldest_id() == 0
    assert outbox.acked(0, 0) and outbox.oldest_id() == 1
    # Back first, then 3 and 4; 2 is still in flight.
    assert send(outbox) == [1, 3, 4]
    assert [e.id for e in outbox.held()] == [1, 2, 3, 4]


def test_entries_taken_back_from_a_replaced_producer_keep_their_order_and_its_reports_are_stale():
    outbox, stats, _clock = outbox_with(4)
    assert send(outbox, generation=0, n=3) == [0, 1, 2]
    assert outbox.take_back() == 3
    # A report of the replaced producer changes nothing, even once the entry is sent again.
    assert not outbox.acked(0, 0) and outbox.failed(1, 0) is None
    assert send(outbox, generation=1, n=1) == [0]
    assert not outbox.acked(0, 0) and outbox.failed(0, 0) is None
    assert (stats.delivered, stats.failed, outbox.pending) == (0, 0, 4)
    assert send(outbox, generation=1) == [1, 2, 3]
    assert all(outbox.acked(i, 1) for i in range(4)) and outbox.pending == 0


def test_only_the_next_entry_can_be_sent():
    outbox, _stats, _clock = outbox_with(2)
    first = outbox.next()
    assert outbox.next() == first  # until it is sent
    with pytest.raises(ValueError, match="entry 1 is not the next one"):
        outbox.sent(outbox.held()[1], 0)
    outbox.sent(first, 0)
    with pytest.raises(ValueError):
        outbox.sent(first, 0)


def test_records_already_on_the_topic_are_dropped():
    outbox, _stats, _clock = outbox_with(4)
    assert send(outbox, n=1) == [0]
    assert outbox.failed(0, 0) is not None  # back, and still dropped with the others
    assert outbox.drop_through(START + 60) == 2
    assert [e.id for e in outbox.held()] == [2, 3] and outbox.pending == 2
    assert outbox.drop_through(START) == 0
    assert send(outbox) == [2, 3]


def test_the_mark_is_the_first_id_accepted_after_it():
    outbox, _stats, _clock = outbox_with(2)
    mark = outbox.mark()
    assert mark == outbox.mark() == 2  # reading it takes no id
    outbox.accept(records(1, first=2), [b"c"])
    assert outbox.held()[-1].id == mark
    send(outbox)
    assert outbox.acked(0, 0) and outbox.acked(1, 0)
    assert outbox.oldest_id() >= mark


def test_acks_from_another_thread_lose_and_repeat_nothing():
    """The loop accepts and sends while kafka-python's I/O thread acks, and fails some once."""
    stats = ProducerStats()
    outbox = Outbox(stats)
    total = 5_000
    reports: queue.Queue[int | None] = queue.Queue()
    failed_once: set[int] = set()

    def io_thread() -> None:
        while (entry_id := reports.get()) is not None:
            if entry_id % 97 == 0 and entry_id not in failed_once:
                failed_once.add(entry_id)
                assert outbox.failed(entry_id, 0) is not None  # comes back: sent again
            else:
                assert outbox.acked(entry_id, 0)
            reports.task_done()

    def send_all() -> None:
        while (entry := outbox.next()) is not None:
            outbox.sent(entry, 0)
            reports.put(entry.id)

    reporter = threading.Thread(target=io_thread)
    reporter.start()
    try:
        for first in range(0, total, 100):
            batch = records(100, first=first)
            outbox.accept(batch, [r.to_json() for r in batch])
            send_all()
        while outbox.pending:
            reports.join()  # every report so far is in: what failed is back
            send_all()
    finally:
        reports.put(None)
        reporter.join(30)
    assert (stats.delivered, stats.failed) == (total, len(failed_once)) == (total, 52)
    assert outbox.pending == 0 and outbox.held() == []
