"""What time travel reads: each pipeline topic's rows validated, timed and keyed as the live
hub does them; and what one read gives back (``History``).

Validation is the hub's own (``isspanel.record``, ``isspanel.flink_rows``): a message the live
page would skip is skipped here too. The time is the row's own (its event time, a window's end);
the key says which rows are one row, so that a repeat changes nothing shown.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from isspanel import flink_rows
from isspanel.messages import parse_object, skip_reason
from isspanel.record import from_message
from isspanel.settings import Settings


@dataclass(frozen=True)
class Kind:
    """What one of the pipeline's topics holds: how a message becomes a row, and the row's own
    time and key."""

    name: str
    topic_setting: str  # the Settings field that names the topic (dotted: a nested one)
    parse: Callable[[bytes | None, int], Any]  # (value, max bytes) -> row, or InvalidRecord
    time_ms: Callable[[Any], float]  # the moment the row belongs to, epoch ms
    key: Callable[[Any], Hashable]
    flink: bool  # written by Flink: its Kafka timestamp is when it was written, not its time

    def topic(self, settings: Settings) -> str:
        return operator.attrgetter(self.topic_setting)(settings)


def _flink(validate: Callable[[dict], dict]) -> Callable[[bytes | None, int], dict]:
    return lambda value, max_bytes: validate(parse_object(value, max_bytes))


def _window_end_ms(row: dict) -> float:
    # A window belongs to the moment it closes; a row without a valid end, to its start.
    return flink_rows.epoch_ms(row.get("window_end")) or flink_rows.epoch_ms(row["window_start"])


POSITIONS = Kind(
    name="positions",
    topic_setting="topics.location",
    parse=from_message,
    time_ms=lambda r: r.timestamp * 1000.0,
    key=lambda r: r.timestamp,
    flink=False,
)
SPEEDS = Kind(
    name="speeds",
    topic_setting="topics.speed",
    parse=_flink(flink_rows.speed_row),
    time_ms=lambda r: r["t_ms"],
    key=lambda r: r["t_ms"],
    flink=True,
)
STATS = Kind(
    name="stats",
    topic_setting="topics.stats",
    parse=_flink(flink_rows.stats_row),
    time_ms=_window_end_ms,
    key=lambda r: flink_rows.epoch_ms(r["window_start"]),
    flink=True,
)
EVENTS = Kind(
    name="events",
    topic_setting="topics.events",
    parse=_flink(flink_rows.event_row),
    time_ms=flink_rows.event_ms,
    key=lambda r: (r["event"], flink_rows.event_ms(r)),
    flink=True,
)
KINDS = (POSITIONS, SPEEDS, STATS, EVENTS)


def kind_of(settings: Settings, topic: str) -> Kind:
    """The kind of one of the pipeline's topics (any other topic is read as positions)."""
    return next((k for k in KINDS if k.topic(settings) == topic), POSITIONS)


def row_times(kind: Kind, settings: Settings, message) -> list[float]:
    """The row time of a valid message, in a list; an empty list for a bad one."""
    try:
        return [kind.time_ms(kind.parse(message.value, settings.dashboard.max_message_bytes))]
    except Exception:  # any message: skipped, never a reader's end
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


class Collector:
    """The rows of one topic read back to a moment: valid, one per key, none after it."""

    def __init__(self, kind: Kind, at_ms: float, limit: int, max_bytes: int):
        self.kind, self.at_ms, self.limit, self.max_bytes = kind, at_ms, limit, max_bytes
        self.seen: dict[Hashable, tuple[float, Any, Any, int]] = {}  # key: time, row, tp, offset
        self.oldest: dict[Any, float] = {}  # per partition, the oldest row time read
        self.skipped = self.duplicates = 0
        self.reasons: list[str] = []

    def add(self, tp, message) -> None:
        try:
            row = self.kind.parse(message.value, self.max_bytes)
            t_ms, key = self.kind.time_ms(row), self.kind.key(row)
        except Exception as exc:  # any message: skipped and counted, never a reader's end
            self.skipped += 1
            self.reasons.append(skip_reason(exc))
            return
        self.oldest[tp] = min(self.oldest.get(tp, t_ms), t_ms)
        if t_ms > self.at_ms:
            return
        if key in self.seen:
            self.duplicates += 1
            _, _, first_tp, first_offset = self.seen[key]
            if first_tp != tp or first_offset < message.offset:
                return  # like the live hub, the first written is the one shown
        self.seen[key] = (t_ms, row, tp, message.offset)

    def threshold(self) -> float:
        """The time of the ``limit``-th newest row so far (-inf while there are fewer)."""
        times = sorted((v[0] for v in self.seen.values()), reverse=True)
        return times[self.limit - 1] if len(times) >= self.limit else float("-inf")

    def older_than(self, tp, threshold: float) -> bool:
        """Whether partition ``tp`` has been read back past ``threshold``: offsets are in time
        order within a partition, so older offsets hold only older rows."""
        return self.oldest.get(tp, float("inf")) < threshold

    def rows(self) -> tuple:
        return tuple(v[1] for v in sorted(self.seen.values(), key=lambda v: v[0])[-self.limit :])
