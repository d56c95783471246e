"""Validation of the rows the Flink jobs write (iss-speed, iss-stats, iss-events).

Readers (the dashboard, the notebooks) believe nothing they read from a topic: a row
that does not have the shape of flink/*.sql's output is refused with one clear line,
exactly as bad positions are refused by ``isspanel.record``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from isspanel.record import InvalidRecord

# The real rows are under 400 bytes; a string field longer than this is not ours.
MAX_TEXT = 200
EVENTS = ("equator", "antimeridian", "anomaly")  # written by flink/30_crossings.sql
# Written by the producer, not by Flink: the live feed froze, or moves again.
FEED_EVENTS = ("feed-frozen", "feed-moving")


def parse_json_object(value: bytes | str | None, max_bytes: int) -> dict:
    """One Kafka message as a JSON object, or InvalidRecord (never RecursionError)."""
    if value is None:
        raise InvalidRecord("empty message (tombstone)")
    if len(value) > max_bytes:
        raise InvalidRecord(f"message of {len(value):,} bytes is over the {max_bytes:,} limit")
    try:
        data = json.loads(value)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRecord(f"not JSON: {exc}") from None
    except RecursionError:
        raise InvalidRecord("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidRecord(f"not a JSON object: {type(data).__name__}")
    return data


def epoch_ms(value: Any) -> float | None:
    """Epoch milliseconds of an ISO time, epoch seconds or epoch ms; None if not a time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return None
        return float(value) * (1000.0 if abs(value) < 1e11 else 1.0)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T").replace("Z", ""))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000.0


def _time(row: dict, *names: str) -> float:
    for name in names:
        if row.get(name) is not None:
            ms = epoch_ms(row[name])
            if ms is None:
                raise InvalidRecord(f"{name} is not a time: {str(row[name])[:60]!r}")
            return ms
    raise InvalidRecord(f"missing field: {names[0]}")


def _number(row: dict, name: str) -> float:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRecord(f"{name} is not a number: {str(value)[:60]!r}")
    return float(value)


def _flat(row: dict) -> dict:
    """The row itself if every value is a number, a short string, a bool or null."""
    for key, value in row.items():
        if len(key) > MAX_TEXT:
            raise InvalidRecord("a field name is too long")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRecord(f"{key} is not finite")
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
        raise InvalidRecord(f"unknown event {str(row.get('event'))[:60]!r}")
    event_ms(row)
    return _flat(row)
