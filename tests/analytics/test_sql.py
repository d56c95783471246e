"""Splitting flink/*.sql into statements (sqlparse), naming them and pointing them at the
settings, without a JVM."""

from __future__ import annotations

import re

import pytest

from isspanel.analytics import jobs, sql
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


A_FILE = """-- a header; its semicolon ends nothing
SET 'execution.checkpointing.interval' = '30 s';
CREATE TABLE t (a STRING) WITH (
  'connector' = 'kafka',
  'topic' = 'iss-location',  -- the source; read from the start
  'properties.bootstrap.servers' = 'localhost:9092'
);
/* a block; of comment */ INSERT INTO t SELECT 'a;b' FROM t;
"""


def test_a_file_is_read_pointed_at_the_settings_and_split(tmp_path, monkeypatch):
    """What the runner submits: the file under SQL_DIR, substituted, split by sqlparse."""
    monkeypatch.setattr(sql, "SQL_DIR", tmp_path)
    (tmp_path / "job.sql").write_text(A_FILE)
    settings = Settings().replace(
        topics={"location": "loc-x"}, kafka={"bootstrap": "broker-x:1"}, flink={"checkpoint_s": 7}
    )
    assert flat(sql.load_sql("job.sql", settings)) == [
        "SET 'execution.checkpointing.interval' = '7 s'",
        "CREATE TABLE t (a STRING) WITH ( 'connector' = 'kafka', 'topic' = 'loc-x',"
        " 'properties.bootstrap.servers' = 'broker-x:1' )",
        "INSERT INTO t SELECT 'a;b' FROM t",
    ]


def test_a_missing_file_names_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(sql, "SQL_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.sql"))):
        sql.load_sql("nope.sql", Settings())


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("SELECT 1;\nSELECT 'abc; SELECT 2;", "an unclosed string (') at line 2"),
        ('SELECT "abc; SELECT 2;', 'an unclosed quoted name (") at line 1'),
        ("SELECT `abc; SELECT 2;", "an unclosed quoted name (`) at line 1"),
        ("SELECT 1;\n\nSELECT /* abc; SELECT 2;", "an unclosed comment (/*) at line 3"),
        ("SELECT /*+ OPTIONS('k'='v') 1; SELECT 2", "an unclosed comment (/*) at line 1"),
    ],
)
def test_an_unclosed_quote_or_comment_is_a_clear_error_not_a_split(text, says):
    """sqlparse alone would split at the `;` inside and hand Flink two broken halves."""
    with pytest.raises(ValueError) as caught:
        split_statements(text)
    assert str(caught.value).startswith(says + ": ")


def test_bad_sql_in_a_file_names_the_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sql, "SQL_DIR", tmp_path)
    (tmp_path / "bad.sql").write_text(A_FILE.replace("'a;b'", "'a;b"))
    with pytest.raises(ValueError) as caught:
        sql.load_sql("bad.sql", Settings())
    assert str(caught.value) == (
        f"{tmp_path / 'bad.sql'}: an unclosed string (') at line 8:"
        ' "/* a block; of comment */ INSERT INTO t SELECT \'a;b FROM t;"'
    )


class FakeTableEnv:
    """What `apply` may call on a TableEnvironment, recorded; no JVM."""

    def __init__(self):
        self.config: dict[str, str] = {}
        self.executed: list[str] = []
        self.inserts: list[str] = []

    def get_config(self):
        return self

    def set(self, key: str, value: str) -> None:
        self.config[key] = value

    def execute_sql(self, statement: str) -> None:
        self.executed.append(statement)

    def add_insert_sql(self, statement: str) -> None:
        self.inserts.append(statement)


def test_the_runner_sends_each_statement_where_its_kind_goes():
    """SET to the configuration, DDL to execute_sql, INSERT to the job's statement set."""
    t_env = FakeTableEnv()
    statements = split_statements(A_FILE.replace("'30 s'", "'it''s'"))
    jobs.apply(t_env, statements, statement_set=t_env)
    assert t_env.config == {"execution.checkpointing.interval": "it's"}
    assert [statement_kind(s) for s in t_env.executed] == ["CREATE TABLE"]
    assert t_env.inserts == [statements[-1]]
    with pytest.raises(ValueError, match="an INSERT needs a statement set"):
        jobs.apply(FakeTableEnv(), statements)


def test_a_submission_runs_the_sources_then_its_jobs_in_order():
    settings = Settings().replace(topics={"location": "loc-x", "speed": "speed-x"})
    statements = jobs.job_statements(settings, ["speed"])
    files = ("00_source_iss_location.sql", "05_legs.sql", "10_speed.sql")
    assert statements == [s for name in files for s in sql.load_sql(name, settings)]
    assert statement_kind(statements[-1]) == "INSERT" and "speed-x" in " ".join(statements)
    with pytest.raises(ValueError) as caught:
        jobs.submit(settings, ["speed", "nope"])  # refused before any JVM starts
    assert str(caught.value) == "unknown job(s) nope; choose from speed, stats, crossings"


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
    settings = Settings().replace(
        kafka={"bootstrap": "broker-a:1,broker-b:2"},
        topics={"location": "loc-x", "speed": "speed-x", "stats": "stats-x", "events": "events-x"},
        flink={
            "group": "group-x",
            "window_minutes": 15,
            "checkpoint_s": 7,
            "min_speed_kmh": 20_000,
            "max_speed_kmh": 30_000.5,
        },
    )
    text = "\n".join(
        s
        for name in ("00_source_iss_location.sql", "10_speed.sql", "20_stats.sql")
        for s in sql.load_sql(name, settings)
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
    events = sql.load_sql("30_crossings.sql", settings)
    assert "'topic' = 'events-x'" in events[1]
    assert "'sink.transactional-id-prefix' = 'group-x-events-x'" in events[1]
    assert text.count("'sink.delivery-guarantee' = 'exactly-once'") == 2
    legs = " ".join(sql.load_sql("05_legs.sql", settings))
    assert "CAST(20000.0 AS DOUBLE) AS min_speed_kmh" in legs
    assert "CAST(30000.5 AS DOUBLE) AS max_speed_kmh" in legs
    # A bounded read is of what the topic holds: from the earliest offset to the end.
    bounded = " ".join(sql.load_sql("00_source_iss_location.sql", settings, True))
    assert "'scan.bounded.mode' = 'latest-offset'" in bounded
    assert "'scan.startup.mode' = 'earliest-offset'" in bounded


def test_a_set_is_parsed_in_one_place():
    """The one parse of `SET 'key' = 'value'`: what `apply` configures, and what a plan's hash
    leaves out (isspanel.analytics.savepoints)."""
    from isspanel.analytics.savepoints import plan_hash

    assert sql.set_option("SET 'a.b' = 'it''s'") == ("a.b", "it's")
    assert sql.set_option("set\n'a' =\n'1 s'") == ("a", "1 s")
    assert sql.set_option("SELECT 'SET ''a'' = ''b'''") is None
    assert sql.set_option("INSERT INTO t SELECT 1") is None
    create = "CREATE TABLE t (a INT)"
    assert plan_hash(["SET 'a' = '1'", create]) == plan_hash([create, "SET 'b' = '2'"])
    assert plan_hash([create]) != plan_hash([create, "INSERT INTO t SELECT 1"])
