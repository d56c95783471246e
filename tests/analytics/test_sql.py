"""Splitting flink/*.sql into statements (sqlparse), naming them and pointing them at the
settings, without a JVM."""

from __future__ import annotations

import re

import pytest

from isspanel.analytics import runner as flink_runner
from isspanel.analytics import sql
from isspanel.analytics.sql import split_statements, statement_kind
from isspanel.settings import PROJECT_ROOT, Settings


def flat(statements: list[str]) -> list[str]:
    """Whitespace collapsed: comments leave a space or a line break behind."""
    return [" ".join(s.split()) for s in statements]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 'a;b'; SELECT 2;", ["SELECT 'a;b'", "SELECT 2"]),
        ("SELECT 'it''s; fine' AS x;", ["SELECT 'it''s; fine' AS x"]),
        ('SELECT `a;b`, "c;d" FROM t;', ['SELECT `a;b`, "c;d" FROM t']),
        ("SELECT '--x', '/*y;*/' AS z", ["SELECT '--x', '/*y;*/' AS z"]),
        ("SELECT 1; -- not; a statement\nSELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("-- a; header\n-- more;\nSET 'k' = 'v';", ["SET 'k' = 'v'"]),
        ("SELECT 1 -- the end, no line break", ["SELECT 1"]),
        ("SELECT /* a; b\n c; */ 1;", ["SELECT 1"]),
        ("SELECT a,-- one\n b FROM t;", ["SELECT a, b FROM t"]),
        ("SELECT /*+ OPTIONS('k'='v;w') */ 1;", ["SELECT /*+ OPTIONS('k'='v;w') */ 1"]),
        (";;  ;\n-- only a comment;\n/* and; another */;\n", []),
        ("", []),
        ("SELECT 1;\nSELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT CASE WHEN a THEN 1 END; SELECT 2", ["SELECT CASE WHEN a THEN 1 END", "SELECT 2"]),
    ],
)
def test_split_statements(text, expected):
    assert flat(split_statements(text)) == expected


def test_comments_keep_the_lines_apart():
    """A `--` comment ends at its line break, which stays: the words around it do not join."""
    assert split_statements("SELECT a -- x\nFROM t") == ["SELECT a \nFROM t"]


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SET 'table.local-time-zone' = 'UTC'", "SET"),
        ("create table events (a INT) WITH ('connector' = 'kafka')", "CREATE TABLE"),
        ("CREATE TEMPORARY VIEW v AS SELECT 1", "CREATE VIEW"),
        ("INSERT INTO iss_speed SELECT * FROM v", "INSERT"),
        ("-- leading comment\nDROP TABLE t", "DROP TABLE"),
        ("'not a statement'", "UNKNOWN"),
    ],
)
def test_statement_kind(statement, kind):
    assert statement_kind(statement) == kind


def test_the_sql_files_split_into_their_statements():
    files = sql.sql_files()
    kinds = {p.name: [statement_kind(s) for s in split_statements(p.read_text())] for p in files}
    assert kinds["00_source_iss_location.sql"] == ["SET", "SET", "CREATE TABLE", "CREATE VIEW"]
    assert kinds["05_legs.sql"] == ["CREATE VIEW", "CREATE VIEW"]
    for name in ("10_speed.sql", "20_stats.sql", "30_crossings.sql"):
        # SET: each job's exactly-once sink commits with its checkpoints (their interval).
        assert kinds[name][:2] == ["SET", "CREATE TABLE"], kinds[name]
        assert kinds[name][-1] == "INSERT", kinds[name]
    for path in sql.sql_files():
        for statement in split_statements(path.read_text()):
            assert "--" not in statement and "/*" not in statement, statement[:80]


def test_flink_runner_callers_work_unchanged():
    """The SQL loading and the TableEnvironment moved to isspanel.analytics."""
    for name in ("SQL_DIR", "load_sql", "split_statements", "sql_files", "substitute"):
        assert getattr(flink_runner, name) is getattr(sql, name)
    for name in ("create_table_env", "connector_jar", "flink_config", "rest_address", "web_url"):
        assert callable(getattr(flink_runner, name))


def test_no_private_pyflink_or_py4j_handles():
    """PyFlink's wrappers keep their Java objects in `_j_*` attributes: not ours to use."""
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}"
        for path in sorted((PROJECT_ROOT / "isspanel").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\._j_\w", line)
    ]
    assert not found, "\n".join(found)


def test_sql_is_pointed_at_the_settings():
    settings = Settings(
        kafka_bootstrap="broker-a:1,broker-b:2",
        topic="loc-x",
        speed_topic="speed-x",
        stats_topic="stats-x",
        events_topic="events-x",
        flink_group="group-x",
        window_minutes=15,
        flink_checkpoint_s=7,
        min_speed_kmh=20_000,
        max_speed_kmh=30_000.5,
    )
    text = "\n".join(
        s
        for name in ("00_source_iss_location.sql", "10_speed.sql", "20_stats.sql")
        for s in flink_runner.load_sql(name, settings)
    )
    assert "'topic' = 'loc-x'" in text
    assert "'topic' = 'speed-x'" in text
    assert "'topic' = 'stats-x'" in text
    assert "'properties.bootstrap.servers' = 'broker-a:1,broker-b:2'" in text
    assert "'properties.group.id' = 'group-x'" in text
    assert "INTERVAL '15' MINUTES" in text
    assert "localhost:9092" not in text and "iss-location" not in text
    assert "--" not in text  # comments are gone, statements are whole
    # Exactly once: resume at the group's offsets; transactions committed by checkpoints, with
    # a prefix of the group and the topic (two sinks or two pipelines never share one).
    assert "'scan.startup.mode' = 'group-offsets'" in text
    assert "'properties.auto.offset.reset' = 'earliest'" in text
    assert "SET 'execution.checkpointing.interval' = '7 s'" in text
    assert "'sink.transactional-id-prefix' = 'group-x-speed-x'" in text
    assert "'sink.transactional-id-prefix' = 'group-x-stats-x'" in text
    events = flink_runner.load_sql("30_crossings.sql", settings)
    assert "'topic' = 'events-x'" in events[1]
    assert "'sink.transactional-id-prefix' = 'group-x-events-x'" in events[1]
    assert text.count("'sink.delivery-guarantee' = 'exactly-once'") == 2
    legs = " ".join(flink_runner.load_sql("05_legs.sql", settings))
    assert "CAST(20000.0 AS DOUBLE) AS min_speed_kmh" in legs
    assert "CAST(30000.5 AS DOUBLE) AS max_speed_kmh" in legs
    # A bounded read is of what the topic holds: from the earliest offset to the end.
    bounded = " ".join(flink_runner.load_sql("00_source_iss_location.sql", settings, True))
    assert "'scan.bounded.mode' = 'latest-offset'" in bounded
    assert "'scan.startup.mode' = 'earliest-offset'" in bounded
