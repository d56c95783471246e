"""Hostile messages: data for every reader of every topic, and of the project's files.

Each entry is (what it is, the bytes; None is a Kafka tombstone). None of them is a valid
row of any topic. A reader "survives" one when it skips it, counts it where a count is shown,
logs one line and goes on; a traceback is a failure (tests/test_hostile.py, and the readers'
own tests: the producer's tail, the dashboard, time travel, Flink, the notebooks' reader).
"""

from __future__ import annotations

T = b"1700000000"  # a valid timestamp, where one is needed for the rest to be the fault


def _position(**fields: bytes) -> bytes:
    """A position's JSON with some fields' raw text replaced (the rest valid)."""
    row = {b"timestamp": T, b"latitude": b"10.5", b"longitude": b"20.5"}
    row.update({k.encode(): v for k, v in fields.items()})
    return b"{" + b",".join(b'"' + k + b'":' + v for k, v in row.items()) + b"}"


CORPUS: list[tuple[str, bytes | None]] = [
    ("a tombstone (null value)", None),
    ("an empty value", b""),
    ("JSON null", b"null"),
    ("a JSON array", b"[1, 2, 3]"),
    ("a JSON number", b"1700000000"),
    ("a JSON string", b'"iss"'),
    ("a JSON true", b"true"),
    ("an empty object", b"{}"),
    ("not JSON: plain text", b"hello, Kafka"),
    ("not JSON: a cut-off object", b'{"timestamp": 17000'),
    ("deep nesting: 100,000 open brackets", b"[" * 100_000),
    ("deep nesting: 30,000 closed objects", b'{"a":' * 30_000 + b"1" + b"}" * 30_000),
    ("deep nesting under a valid key", _position(latitude=b"[" * 20_000 + b"]" * 20_000)),
    ("a huge number: 5,000 digits (over Python's int-string limit)", b"9" * 5_000),
    ("a huge timestamp: 5,000 digits", _position(timestamp=b"9" * 5_000)),
    ("a huge latitude: 400 digits (no float holds it)", _position(latitude=b"9" * 400)),
    ("a huge timestamp string: 4,000 digits", _position(timestamp=b'"' + b"9" * 4_000 + b'"')),
    ("a float overflowing to infinity", _position(longitude=b"1e999")),
    ("NaN", _position(latitude=b"NaN")),
    ("Infinity", _position(longitude=b"Infinity")),
    ("-Infinity", _position(timestamp=b"-Infinity")),
    ("a huge string: 900 kB", b'{"pad": "' + b"x" * 900_000 + b'"}'),
    ("a long string under the size cap", _position(source=b'"' + b"s" * 60_000 + b'"')),
    ("invalid UTF-8", b"\xff\xfe\xfd"),
    ("invalid UTF-8 inside a string", _position(source=b'"\xc3\x28"')),
    ("a lone UTF-16 surrogate", _position(source=b'"\\ud800"')),
    ("a NUL byte", b"\x00"),
    (
        "duplicate keys: the last (read as JSON readers do) is wrong",
        _position()[:-1] + b',"latitude":"north"}',
    ),
    ("wrong types: the timestamp a bool", _position(timestamp=b"true")),
    ("wrong types: coordinates as objects", _position(latitude=b'{"deg": 10}')),
    ("wrong types: a timestamp with a Unicode digit", _position(timestamp=b'"\xc2\xb2"')),
    ("out of range: latitude 95", _position(latitude=b"95")),
    ("a timestamp in milliseconds", _position(timestamp=T + b"000")),
    ("HTML in a string", _position(source=b'"<script>alert(1)</script>"')),
    (
        "an unknown event with HTML",
        b'{"event": "<img src=x onerror=alert(1)>", "timestamp": ' + T + b"}",
    ),
    ("a window start that is not a time", b'{"window_start": "<b>noon</b>", "n": 1}'),
    (
        "a speed row with a 400-digit speed",
        b'{"eventTime": "2026-11-27T01:00:00Z", "speed_kmh": ' + b"9" * 400 + b"}",
    ),
    (
        "a speed row with a nested value",
        b'{"eventTime": "2026-11-27T01:00:00Z", "speed_kmh": 27000, "x": [1]}',
    ),
    (
        "a stats row with a 400-digit count",
        b'{"window_start": "2026-11-27T01:00:00Z", "n": ' + b"9" * 400 + b"}",
    ),
    (
        "an event in the year 1, east of UTC",
        b'{"event": "equator", "eventTime": "0001-01-01T00:00:00+05:00"}',
    ),
]
