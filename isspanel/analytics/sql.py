"""The SQL of flink/*.sql: split into statements (sqlparse) and pointed at the settings.

The files are written for the local broker's defaults, so that Flink's own SQL client runs them
as they are; `substitute` rewrites their topics, brokers, group and window to the ISS_* settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlparse
from sqlparse import tokens as T

from isspanel.settings import PROJECT_ROOT, Settings

SQL_DIR = PROJECT_ROOT / "flink"
_OBJECTS = ("TABLE", "VIEW", "FUNCTION", "DATABASE", "CATALOG")


# -- statements -------------------------------------------------------------------------------


def _without_comments(statement: sqlparse.sql.Statement) -> str:
    parts = []
    for token in statement.flatten():
        if token.ttype in T.Comment.Multiline.Hint:
            parts.append(token.value)  # /*+ OPTIONS(...) */ is SQL to Flink
        elif token.ttype in T.Comment.Single:
            parts.append("\n")  # the token ends with the line break
        elif token.ttype in T.Comment:
            parts.append(" ")
        else:
            parts.append(token.value)
    return "".join(parts)


_OPENERS = {"'": "string", '"': "quoted name", "`": "quoted name"}


def _check_closed(text: str, statements) -> None:
    """ValueError at a quote or ``/*`` that is never closed.

    sqlparse's lexer does not fail there: it takes the quote (an Error token) or the ``/``
    and ``*`` (an operator and a wildcard) alone and goes on, so the `;` inside would split.
    """
    offset, previous = 0, None
    for statement in statements:
        for token in statement.flatten():
            what = None
            if token.ttype in T.Error and token.value in _OPENERS:
                what = f"{_OPENERS[token.value]} ({token.value})"
            elif token.value == "*" and previous is not None and previous.value == "/":
                what, offset = "comment (/*)", offset - 1
            if what:
                line = text.count("\n", 0, offset) + 1
                shown = text.splitlines()[line - 1].strip()[:60]
                raise ValueError(f"an unclosed {what} at line {line}: {shown!r}")
            offset += len(token.value)
            previous = token


def split_statements(text: str) -> list[str]:
    """Split SQL on `;`, dropping `--` and `/* */` comments (hints `/*+ */` stay).

    sqlparse's lexer finds the `;` that end statements, so one inside a string, a quoted
    identifier or a comment does not split; empty statements are dropped. An unclosed quote
    or comment is a ValueError that names its line.
    """
    parsed = sqlparse.parse(text)
    _check_closed(text, parsed)
    statements = []
    for statement in parsed:
        sql = _without_comments(statement).strip().removesuffix(";").strip()
        if sql:
            statements.append(sql)
    return statements


def statement_kind(sql: str) -> str:
    """SET, INSERT, CREATE TABLE, CREATE VIEW, ...: the statement's verb (and what it creates)."""
    words = []
    for token in sqlparse.parse(sql)[0].flatten():
        if token.is_whitespace or token.ttype in T.Comment:
            continue
        if token.ttype not in T.Keyword:
            break
        words.append(token.normalized.upper())
    if not words:
        return "UNKNOWN"
    target = next((w for w in words[1:] if w in _OBJECTS), None)
    if target and words[0] in ("CREATE", "DROP", "ALTER"):
        return f"{words[0]} {target}"
    return words[0]


_SET = re.compile(r"^SET\s+'([^']+)'\s*=\s*'((?:[^']|'')*)'$", re.IGNORECASE | re.DOTALL)


def set_option(sql: str) -> tuple[str, str] | None:
    """Key and value of ``SET 'key' = 'value'`` (a statement as split); None for any other."""
    match = _SET.match(sql)
    return (match.group(1), match.group(2).replace("''", "'")) if match else None


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))


# -- pointing the SQL at the settings ---------------------------------------------------------


def _quote(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _option(sql: str, key: str, value: Callable[[str], str]) -> str:
    """Rewrite the value of ``'key' = '...'`` WITH options."""
    pattern = re.compile(r"('" + re.escape(key) + r"'\s*=\s*)'((?:[^']|'')*)'")
    return pattern.sub(lambda m: m.group(1) + _quote(value(m.group(2).replace("''", "'"))), sql)


def _prefix(value: str, settings: Settings, topics: dict[str, str]) -> str:
    """'isspanel-flink-iss-speed' -> '<flink group>-<speed topic>': unique per group and sink."""
    topic = value.removeprefix("isspanel-flink-")
    return f"{settings.flink.group}-{topics.get(topic, topic)}"


def _number(value: float) -> str:
    return repr(float(value))


def substitute(sql: str, settings: Settings, bounded: bool = False) -> str:
    """Point the SQL as written (local defaults) at ``settings``; ``bounded`` reads what the
    topic holds, from its earliest offset to the end."""
    topics = {
        "iss-location": settings.topics.location,
        "iss-speed": settings.topics.speed,
        "iss-stats": settings.topics.stats,
        "iss-events": settings.topics.events,
    }
    sql = _option(sql, "topic", lambda v: topics.get(v, v))
    sql = _option(sql, "properties.bootstrap.servers", lambda _v: settings.kafka.bootstrap_servers)
    sql = _option(sql, "properties.group.id", lambda _v: settings.flink.group)
    sql = _option(sql, "sink.transactional-id-prefix", lambda v: _prefix(v, settings, topics))
    sql = _option(
        sql, "execution.checkpointing.interval", lambda _v: f"{settings.flink.checkpoint_s} s"
    )
    for bound, value in (
        ("min", settings.flink.min_speed_kmh),
        ("max", settings.flink.max_speed_kmh),
    ):
        sql = re.sub(
            r"(CAST\(\s*)[-+0-9.eE]+(\s+AS\s+DOUBLE\s*\)\s+AS\s+" + bound + r"_speed_kmh\b)",
            lambda m, v=value: f"{m.group(1)}{_number(v)}{m.group(2)}",
            sql,
            flags=re.IGNORECASE,
        )
    sql = re.sub(
        r"(DESCRIPTOR\(\s*event_time\s*\)\s*,\s*INTERVAL\s*')\d+('\s*MINUTES?)",
        lambda m: f"{m.group(1)}{settings.flink.window_minutes}{m.group(2)}",
        sql,
        flags=re.IGNORECASE,
    )
    if bounded:
        sql = _option(sql, "scan.startup.mode", lambda _v: "earliest-offset")
        sql = re.sub(
            r"('scan\.startup\.mode'\s*=\s*'[^']*')",
            r"\1,\n  'scan.bounded.mode' = 'latest-offset'",
            sql,
        )
    return sql


def load_sql(name: str, settings: Settings, bounded: bool = False) -> list[str]:
    """The statements of flink/``name`` with the settings' topics, brokers and window."""
    path = SQL_DIR / name
    try:
        return split_statements(substitute(path.read_text(), settings, bounded))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
