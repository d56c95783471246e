"""The ISS position record and its validation: the one place that says what is valid."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from isspanel.messages import InvalidRecord, parse_object

# A line of a JSONL file (replay, the spool) is one record: far under this.
MAX_LINE_BYTES = 64 * 1024

SOURCES = ("open-notify", "sgp4", "replay")

# No two points on the 6371 km sphere lie further apart (half its circumference, rounded up).
MAX_SURFACE_KM = 20_016.0
# Records older than this or further ahead than the skew are rejected (see Settings).
DEFAULT_MAX_CLOCK_SKEW_S = 300
DEFAULT_MAX_AGE_S = 2 * 365 * 24 * 3600


@dataclass(frozen=True)
class IssRecord:
    timestamp: int  # epoch seconds of the position itself, not of the fetch
    latitude: float
    longitude: float
    source: str
    # Optional: how far (km) a live position lies from SGP4's for the same moment.
    model_km: float | None = None

    @property
    def event_time(self) -> str:
        return iso_utc(self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        row = {
            "timestamp": self.timestamp,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "eventTime": self.event_time,
            "source": self.source,
        }
        if self.model_km is not None:
            row["model_km"] = self.model_km
        return row

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _show(value: Any) -> str:
    """A value in an error line: its repr, cut short (it may be 60 kB of outside text)."""
    try:
        text = repr(value)
    except ValueError:  # an int over Python's 4,300 digits has no repr
        return f"an {type(value).__name__} too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidRecord(f"{name} is not a number: {_show(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
        raise InvalidRecord(f"{name} is not a number: {_show(value)}") from None
    if not math.isfinite(number):
        raise InvalidRecord(f"{name} is not finite: {_show(value)}")
    return number


def _timestamp(value: Any, now: float, max_skew_s: int, max_age_s: int) -> int:
    if (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
    ):
        try:
            value = int(value)
        except ValueError:  # over Python's 4,300 digits
            raise InvalidRecord(f"timestamp is not an integer: {_show(value)}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord(f"timestamp is not an integer: {_show(value)}")
    if value > now + max_skew_s:
        raise InvalidRecord(f"timestamp {_show(value)} lies over {max_skew_s} s in the future")
    if value < now - max_age_s:
        days = _show((int(now) - value) // 86400)
        raise InvalidRecord(f"timestamp {_show(value)} is {days} days old")
    return value


def make_record(
    timestamp: Any,
    latitude: Any,
    longitude: Any,
    source: str,
    *,
    now: float | None = None,
    max_skew_s: int = DEFAULT_MAX_CLOCK_SKEW_S,
    max_age_s: int = DEFAULT_MAX_AGE_S,
) -> IssRecord:
    """Validate raw values into an IssRecord, or raise InvalidRecord."""
    now = time.time() if now is None else now
    lat = _number(latitude, "latitude")
    lon = _number(longitude, "longitude")
    if not -90.0 <= lat <= 90.0:
        raise InvalidRecord(f"latitude {lat} is outside [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise InvalidRecord(f"longitude {lon} is outside [-180, 180]")
    if source not in SOURCES:
        raise InvalidRecord(f"unknown source {_show(source)}")
    ts = _timestamp(timestamp, now, max_skew_s, max_age_s)
    return IssRecord(ts, lat, lon, source)


def optional_km(value: Any) -> float | None:
    """An optional distance on Earth in km, or None: a bad one is dropped, not fatal, since
    the position it annotates is still good."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0.0 <= value <= MAX_SURFACE_KM:  # also NaN, and ints too big for a float
        return None
    return float(value)


def from_open_notify(body: Any, **limits: Any) -> IssRecord:
    """Validate an iss-now.json answer: message, numeric coordinates in range, sane timestamp."""
    if not isinstance(body, dict):
        raise InvalidRecord(f"answer is not a JSON object: {type(body).__name__}")
    if body.get("message") != "success":
        raise InvalidRecord(f"message is {_show(body.get('message'))}, not 'success'")
    position = body.get("iss_position")
    if not isinstance(position, dict):
        raise InvalidRecord("iss_position is missing")
    if "timestamp" not in body:
        raise InvalidRecord("timestamp is missing")
    return make_record(
        body["timestamp"],
        position.get("latitude"),
        position.get("longitude"),
        "open-notify",
        **limits,
    )


def from_flat(data: Any, **limits: Any) -> IssRecord:
    """Validate a flat record as published on the topic (or recorded in JSONL)."""
    if isinstance(data, bytes | str):
        data = parse_object(data, MAX_LINE_BYTES)
    if not isinstance(data, dict):
        raise InvalidRecord(f"not a JSON object: {type(data).__name__}")
    missing = [k for k in ("timestamp", "latitude", "longitude") if k not in data]
    if missing:
        raise InvalidRecord(f"missing field(s): {', '.join(missing)}")
    record = make_record(
        data["timestamp"],
        data["latitude"],
        data["longitude"],
        data.get("source", "replay"),
        **limits,
    )
    model_km = optional_km(data.get("model_km"))  # optional: absent in most records
    return record if model_km is None else replace(record, model_km=model_km)


def from_message(value: bytes | None, max_bytes: int) -> IssRecord:
    """A position as read back from the topic (the live hub, time travel): size-checked, then
    validated by ``from_flat``; of any age, since a retained record may be old."""
    return from_flat(parse_object(value, max_bytes), max_age_s=10**10)
