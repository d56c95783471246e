"""The notebooks' and tools' reader: a topic's valid rows as a DataFrame, read to the end
offsets it found when it started (never "until nothing came for a while").

    from isspanel.broker import read_topic
    read_topic(settings, settings.topics.speed, last=100)

Rows are validated as the dashboard does (``rows.kind_of``): a bad message is skipped, counted
in ``df.attrs["skipped"]`` and logged in one line; a repeated key (a replayed spool, a job
restarted after a kill) is one row, the first written.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING

from kafka import TopicPartition
from kafka.errors import KafkaError

from isspanel.broker import clients
from isspanel.broker.rows import HistoryError, kind_of
from isspanel.messages import skip_reason
from isspanel.record import IssRecord
from isspanel.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

ISOLATIONS = ("read_committed", "read_uncommitted")


def read_topic(
    settings: Settings,
    topic: str,
    *,
    last: int | None = None,
    since: datetime | None = None,
    isolation: str = "read_committed",
    timeout_s: float = 30.0,
) -> pd.DataFrame:
    """The valid rows of ``topic`` in time order: all, the ``last`` N, or those written
    ``since`` (by Kafka timestamp: event time for positions). ``timeout_s`` only bounds a
    broker that stops answering (HistoryError); an idle topic ends the read at once."""
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {ISOLATIONS}, not {isolation!r}")
    if last is not None and last < 1:
        raise ValueError(f"last must be at least 1, not {last}")
    if since is not None and since.tzinfo is None:
        raise ValueError(f"{since.isoformat()} has no time zone: give one, e.g. Z for UTC")
    try:
        consumer = clients.consumer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            client_id="isspanel-reader",
            group_id=None,
            enable_auto_commit=False,
            isolation_level=isolation,  # Flink writes in transactions: committed rows only
            allow_auto_create_topics=False,
            request_timeout_ms=5_000,
            bootstrap_timeout_ms=settings.kafka.connect_timeout_ms,
            fetch_max_wait_ms=10,  # read what is there, never wait for more
        )
    except (KafkaError, OSError) as exc:
        raise HistoryError(
            f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: {exc}"
        ) from None
    try:
        return _read(consumer, settings, topic, last, since, timeout_s)
    except KafkaError as exc:
        raise HistoryError(
            f"reading {topic} from {settings.kafka.bootstrap_servers} failed: {exc}"
        ) from None
    finally:
        consumer.close(autocommit=False)


def _read(consumer, settings, topic, last, since, timeout_s) -> pd.DataFrame:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise HistoryError(f"topic {topic} does not exist on {settings.kafka.bootstrap_servers}")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    begins, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
    floor = dict(begins)  # the first offset the read may go back to
    if since is not None:
        found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        floor = {tp: ends[tp] if found[tp] is None else found[tp].offset for tp in tps}
    starts = dict(floor)
    kind = kind_of(settings, topic)
    span = last
    while True:
        if span is not None:
            starts = {tp: max(floor[tp], ends[tp] - span) for tp in tps}
        rows, skipped, duplicates, why = _collect(
            consumer, settings, kind, tps, starts, ends, timeout_s
        )
        # Offsets count commit markers and bad messages too: read further back if that left
        # fewer rows than asked and there is more to read.
        if span is None or len(rows) >= last or all(starts[tp] <= floor[tp] for tp in tps):
            break
        span *= 2
    if skipped:
        log.warning("%s: %d bad message(s) skipped (%s)", topic, skipped, why)
    import pandas as pd  # here: the producer and the dashboard import this package too

    ordered = sorted(rows.values(), key=lambda r: r[0])
    if last is not None:
        ordered = ordered[-last:]
    df = pd.DataFrame([row for _t, row in ordered])
    df.attrs.update(topic=topic, skipped=skipped, duplicates=duplicates)
    return df


def _collect(consumer, settings, kind, tps, starts, ends, timeout_s):
    """Every message from ``starts`` to ``ends``: the valid rows by key (first written wins)."""
    todo = {tp for tp in tps if starts[tp] < ends[tp]}
    for tp in tps:
        consumer.seek(tp, starts[tp])
    rows: dict = {}
    skipped = duplicates = 0
    why = ""
    deadline = time.monotonic() + timeout_s
    while todo:
        if time.monotonic() > deadline:
            raise HistoryError(f"{tps[0].topic} was not read to its end within {timeout_s:g} s")
        for tp, messages in consumer.poll(timeout_ms=200).items():
            for message in messages:
                if message.offset >= ends[tp]:
                    continue  # written after the read began
                try:
                    row = kind.parse(message.value, settings.dashboard.max_message_bytes)
                    t_ms, key = kind.time_ms(row), kind.key(row)
                except Exception as exc:  # any message: skipped and counted
                    skipped += 1
                    why = why or skip_reason(exc)
                    continue
                if key in rows:
                    duplicates += 1
                    continue
                flat = row.to_dict() if isinstance(row, IssRecord) else dict(row)
                rows[key] = (t_ms, {**flat, "partition": tp.partition, "offset": message.offset})
        todo = {tp for tp in todo if consumer.position(tp) < ends[tp]}
    return rows, skipped, duplicates, why
