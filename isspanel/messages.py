"""One message from outside (a Kafka value, a line of a file) as a JSON object: the one parse
every reader uses, and the one way a reader skips what it cannot use.

Readers believe nothing they read. Whatever one message holds (deep nesting, a number of
5,000 digits, invalid UTF-8, a tombstone), parsing it either gives a dict or raises
``InvalidRecord`` with one line saying why; ``skip_reason`` turns any other exception a
validator may still raise into that line, so no single message can stop a reader.
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["InvalidRecord", "parse_object", "skip_reason", "skipped"]


class InvalidRecord(ValueError):
    """An input that must not be published or shown; the message says why in one line."""


def parse_object(value: bytes | str | None, max_bytes: int) -> dict[str, Any]:
    """``value`` as a JSON object, size-checked before it is parsed, or InvalidRecord."""
    if value is None:
        raise InvalidRecord("empty message (tombstone)")
    if len(value) > max_bytes:
        raise InvalidRecord(f"message of {len(value):,} bytes is over the {max_bytes:,} limit")
    try:
        data = json.loads(value)
    except RecursionError:
        raise InvalidRecord("JSON nested too deeply") from None
    except ValueError as exc:
        # JSONDecodeError, UnicodeDecodeError, and Python's own limit on the digits of an
        # integer (4,300), which json.loads raises as a bare ValueError.
        raise InvalidRecord(f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise InvalidRecord(f"not a JSON object: {type(data).__name__}")
    return data


def skip_reason(exc: BaseException) -> str:
    """The one line a reader logs for a message it skips (any exception, never a traceback)."""
    if isinstance(exc, InvalidRecord):
        return str(exc)[:200]
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"


def skipped(log: logging.Logger, where: str, exc: BaseException, offset: Any = None) -> None:
    """Log the one line for a skipped message: where it was, and why."""
    at = "" if offset is None else f" at offset {offset}"
    log.warning("skipped a bad message on %s%s: %s", where, at, skip_reason(exc))
