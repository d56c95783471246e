"""Splitting flink/*.sql into statements (sqlparse) and naming them, without a JVM."""

from __future__ import annotations

import re

import pytest

from isspanel.analytics import runner as flink_runner
from isspanel.analytics import sql
from isspanel.analytics.sql import split_statements, statement_kind
from isspanel.settings import PROJECT_ROOT


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
