"""Validation of the rows the Flink jobs write (iss-speed, iss-stats, iss-events).

Readers (the dashboard, the notebooks) believe nothing they read from a topic: a row
that does not have the shape of flink/*.sql's output is refused with one clear line,
exactly as bad positions are refused by ``isspanel.record``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from isspanel.record import InvalidRecord

# The real rows are under 400 bytes; a string field longer than this is not ours.
MAX_TEXT = 200
EVENTS = ("equator", "antimeridian", "anomaly")  # written by flink/30_crossings.sql
# Written by the producer, not by Flink: the live feed froze, or moves again.
FEED_EVENTS = ("feed-frozen", "feed-moving")
# The times a row may carry, as flink/00_source_iss_location.sql bounds the positions it reads.
YEARS_MS = (946_684_800_000.0, 4_102_444_800_000.0)  # 2000-01-01 .. 2100-01-01 UTC


def epoch_ms(value: Any) -> float | None:
    """Epoch milliseconds of an ISO time, epoch seconds or epoch ms; None if not a time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)  # OverflowError: an int of 400 digits
        except OverflowError:
            return None
        if not math.isfinite(number):
            return None
        return number * (1000.0 if abs(number) < 1e11 else 1.0)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T").replace("Z", ""))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp() * 1000.0
    except (ValueError, OverflowError):  # OverflowError: year 1 in a zone east of UTC
        return None


def _time(row: dict, *names: str) -> float:
    for name in names:
        if row.get(name) is not None:
            ms = epoch_ms(row[name])
            if ms is None:
                raise InvalidRecord(f"{name} is not a time: {_text(row[name])}")
            if not YEARS_MS[0] <= ms < YEARS_MS[1]:
                raise InvalidRecord(f"{name} lies outside 2000-2100: {_text(row[name])}")
            return ms
    raise InvalidRecord(f"missing field: {names[0]}")


def _number(row: dict, name: str) -> float:
    value = row.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)  # OverflowError: an int of 400 digits
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise InvalidRecord(f"{name} is not a number: {_text(value)}")


def _text(value: Any) -> str:
    """Outside text in an error line, cut short."""
    try:
        return repr(str(value)[:60])
    except ValueError:  # an int over Python's 4,300 digits has no str
        return "(too long to show)"


def _flat(row: dict) -> dict:
    """The row itself if every value is a number, a short string, a bool or null."""
    for key, value in row.items():
        if len(key) > MAX_TEXT:
            raise InvalidRecord("a field name is too long")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRecord(f"{key} is not finite")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:  # Flink's BIGINT
            raise InvalidRecord(f"{key} is an integer out of range")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise InvalidRecord(f"{key} is a string of {len(value)} characters")
        if not isinstance(value, int | float | str | bool | type(None)):
            raise InvalidRecord(f"{key} is a {type(value).__name__}, not a plain value")
    return row


def speed_row(row: dict) -> dict:
    """An iss-speed row, with ``t_ms`` (event time) added for plotting."""
    t_ms = _time(row, "eventTime", "event_time", "timestamp")
    _number(row, "speed_kmh")
    return {**_flat(row), "t_ms": t_ms}


def stats_row(row: dict) -> dict:
    """An iss-stats row: a window start that is a time, plain values."""
    _time(row, "window_start")
    return _flat(row)


def event_ms(row: dict) -> float:
    """An event row's time, epoch milliseconds."""
    return _time(row, "eventTime", "event_time", "timestamp")


def event_row(row: dict) -> dict:
    """An iss-events row: a known event and a time."""
    if row.get("event") not in EVENTS + FEED_EVENTS:
        raise InvalidRecord(f"unknown event {_text(row.get('event'))}")
    event_ms(row)
    return _flat(row)
