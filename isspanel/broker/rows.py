"""What time travel reads: each pipeline topic's rows validated, timed and keyed as the live
hub does them; and what one read gives back (``History``).

Validation is the hub's own (``isspanel.record``, ``isspanel.flink_rows``): a message the live
page would skip is skipped here too. The time is the row's own (its event time, a window's end);
the key says which rows are one row, so that a repeat changes nothing shown.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from isspanel import flink_rows
from isspanel.record import InvalidRecord, from_message
from isspanel.settings import Settings


@dataclass(frozen=True)
class Kind:
    name: str
    parse: Callable[[bytes | None, int], Any]  # (value, max bytes) -> row, or InvalidRecord
    time_ms: Callable[[Any], float]  # the moment the row belongs to, epoch ms
    key: Callable[[Any], Hashable]
    flink: bool  # written by Flink: its Kafka timestamp is when it was written, not its time


def _flink(validate: Callable[[dict], dict]) -> Callable[[bytes | None, int], dict]:
    return lambda value, max_bytes: validate(flink_rows.parse_json_object(value, max_bytes))


def _window_end_ms(row: dict) -> float:
    # A window belongs to the moment it closes; a row without a valid end, to its start.
    return flink_rows.epoch_ms(row.get("window_end")) or flink_rows.epoch_ms(row["window_start"])


POSITIONS = Kind(
    "positions", from_message, lambda r: r.timestamp * 1000.0, lambda r: r.timestamp, False
)
SPEEDS = Kind(
    "speeds", _flink(flink_rows.speed_row), lambda r: r["t_ms"], lambda r: r["t_ms"], True
)
STATS = Kind(
    "stats",
    _flink(flink_rows.stats_row),
    _window_end_ms,
    lambda r: flink_rows.epoch_ms(r["window_start"]),
    True,
)
EVENTS = Kind(
    "events",
    _flink(flink_rows.event_row),
    flink_rows.event_ms,
    lambda r: (r["event"], flink_rows.event_ms(r)),
    True,
)


def kind_of(settings: Settings, topic: str) -> Kind:
    """The kind of one of the pipeline's topics (any other topic is read as positions)."""
    return {
        settings.speed_topic: SPEEDS,
        settings.stats_topic: STATS,
        settings.events_topic: EVENTS,
    }.get(topic, POSITIONS)


def row_times(kind: Kind, settings: Settings, message) -> list[float]:
    """The row time of a valid message, in a list; an empty list for a bad one."""
    try:
        return [kind.time_ms(kind.parse(message.value, settings.max_message_bytes))]
    except InvalidRecord:
        return []


class HistoryError(RuntimeError):
    """Time travel cannot read Kafka (no broker, no such topic); the message says why."""


@dataclass(frozen=True)
class History:
    """What one topic held at a moment: its newest valid rows up to it, oldest first."""

    topic: str
    at: datetime  # the moment read (a moment in the future is read as now)
    rows: tuple = ()  # IssRecord for positions, the validated dict for Flink rows
    live: bool = False  # the moment asked lay in the future: this is now
    skipped: int = 0  # bad messages among those read
    duplicates: int = 0  # repeats of a key among those read
    fetched: int = 0  # messages fetched from Kafka: the reader's bound
    note: str = ""  # why the rows may be fewer than asked (empty when all is well)
    earliest: datetime | None = None  # the time of the oldest valid row still retained


def utc(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def moment(at: datetime) -> tuple[datetime, bool]:
    """``at`` in UTC, and whether it lay in the future (then it is now: live)."""
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone: give one, e.g. Z for UTC")
    now = datetime.now(UTC)
    return (now, True) if at > now else (at.astimezone(UTC), False)
