"""`isspanel sql-client` (`make sql-client`): Flink's own SQL client with the project's tables.

The init file is flink/*.sql as `isspanel flink run` loads it (one loader, no copy of the SQL);
the real client is started once, fed statements on its standard input as a person types them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from argparse import Namespace

import psutil
import pytest

from isspanel import lifeline
from isspanel.analytics.sql import load_sql, sql_files, statement_kind
from isspanel.broker.topics import ensure_topics
from isspanel.cli import sql_client
from isspanel.cli.main import build_parser
from isspanel.processes import group_members
from isspanel.produce.producer import IssProducer
from isspanel.settings import PROJECT_ROOT
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import kafka_env

TABLES = ("iss_location", "iss_speed", "iss_stats", "iss_events")
LOOPBACK = ("127.", "::1", "::ffff:127.")
BUDGET_S = 240  # JVM, init and one query: ~25 s alone here, several times that under load


# -- the init file and the command, without a JVM -----------------------------------------------


def test_the_init_file_is_the_projects_ddl_with_the_settings(kafka_settings):
    settings = kafka_settings.replace(
        topics={"location": "t-loc", "speed": "t-speed"}, flink={"group": "g"}
    )
    statements = sql_client.init_statements(settings)
    kinds = {statement_kind(sql) for sql in statements}
    assert "INSERT" not in kinds  # an init file may not run a job
    assert {"SET", "CREATE TABLE", "CREATE VIEW", "ALTER TABLE"} == kinds
    # Every SET and CREATE of flink/*.sql, as the runner loads them, under the client's group.
    client = settings.replace(flink={"group": "g-sql-client"})
    ddl = [
        s for p in sql_files() for s in load_sql(p.name, client) if statement_kind(s) != "INSERT"
    ]
    assert [s for s in statements if statement_kind(s) != "ALTER TABLE"] == ddl
    text = "\n".join(statements)
    assert "'topic' = 't-loc'" in text and "'topic' = 't-speed'" in text
    assert f"'properties.bootstrap.servers' = '{settings.kafka.bootstrap_servers}'" in text
    # Its reads and any INSERT typed in it stay apart from `isspanel flink run`'s group.
    assert "'properties.group.id' = 'g'" not in text
    assert "'sink.transactional-id-prefix' = 'g-sql-client-t-speed'" in text
    alters = [s for s in statements if statement_kind(s) == "ALTER TABLE"]
    assert [s.split()[2] for s in alters] == list(TABLES)
    for sql in alters:  # right after its table: the views on it are planned for its reads
        made = statements[statements.index(sql) - 1]
        assert statement_kind(made) == "CREATE TABLE" and made.split()[2] == sql.split()[2]
    for sql in alters:
        assert "'scan.startup.mode' = 'earliest-offset'" in sql
        assert "'properties.isolation.level' = 'read_committed'" in sql
        assert "scan.bounded.mode" not in sql
    bounded = sql_client.init_statements(settings, bounded=True)
    alters = [s for s in bounded if statement_kind(s) == "ALTER TABLE"]
    assert len(alters) == 4 and all("'scan.bounded.mode' = 'latest-offset'" in s for s in alters)


def test_print_init_writes_the_init_sql(kafka_settings, capsys):
    args = build_parser().parse_args(["sql-client", "--print-init", "--bounded"])
    assert args.func(args, kafka_settings) == 0
    out = capsys.readouterr().out
    assert out == sql_client.render_init(kafka_settings, bounded=True)
    assert out.count("CREATE TABLE") == 4 and "INSERT" not in out


def test_options_after_a_double_dash_go_to_the_client():
    args = build_parser().parse_args(["sql-client", "--jobmanager", "h:1", "--", "-f", "q.sql"])
    assert args.jobmanager == "h:1" and args.client_args[-2:] == ["-f", "q.sql"]


def test_the_client_runs_embedded_on_loopback_or_on_a_jobmanager(kafka_settings, tmp_path):
    settings = kafka_settings.replace(home=tmp_path)
    argv, env = sql_client.client_command(settings, extra=["-f", "q.sql"])
    assert argv[1].endswith("bin/sql-client.sh") and argv[2] == "embedded"
    assert argv[-2:] == ["-f", "q.sql"]
    options = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-D")
    assert options["execution.target"] == "local"
    for key in ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host"):
        assert options[key] == "127.0.0.1"
    assert "rest.port" not in options  # a free one per query: ISS_FLINK_REST_PORT is flink run's
    assert "execution.runtime-mode" not in options  # streaming: a query runs on
    assert sql_client.client_config(settings, bounded=True)["execution.runtime-mode"] == "batch"
    opt = sorted(p.name for p in (tmp_path / "flink" / "sql-client" / "opt").iterdir())
    assert any(n.startswith("flink-sql-gateway-") for n in opt), opt
    assert any(n.startswith("flink-sql-client-") for n in opt), opt
    assert env["FLINK_OPT_DIR"].endswith("opt") and env["FLINK_LOG_DIR"].startswith(str(tmp_path))
    # Its scratch is the process's own under ISS_HOME (it execs: the pid stays), never /tmp.
    scratch = tmp_path / "flink" / "tmp" / str(os.getpid())
    assert options["io.tmp.dirs"] == str(scratch)
    assert f"-Djava.io.tmpdir={scratch}" in env["JVM_ARGS"]
    remote, _env = sql_client.client_command(
        settings.replace(flink={"jobmanager": "10.1.2.3:8081"})
    )
    options = dict(remote[i + 1].split("=", 1) for i, a in enumerate(remote) if a == "-D")
    assert options["execution.target"] == "remote"
    assert "io.tmp.dirs" not in options  # the cluster's own machine decides its scratch
    assert (options["rest.address"], options["rest.port"]) == ("10.1.2.3", "8081")


def test_a_missing_gateway_jar_says_make_jars(kafka_settings, tmp_path):
    with pytest.raises(FileNotFoundError, match="make jars"):
        sql_client.gateway_jar(kafka_settings.replace(jars_dir=tmp_path))


# -- the real client -------------------------------------------------------------------------


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket of ``pid`` and its children."""
    root = psutil.Process(pid)
    found = []
    for process in [root, *root.children(recursive=True)]:
        for conn in process.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                found.append((conn.laddr.ip, conn.laddr.port))
    return sorted(found)


class Session:
    """`isspanel sql-client` on pipes: statements in, what it prints collected by a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = lifeline.popen(
            [sys.executable, "-m", "isspanel", "sql-client"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.chunks: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            self.chunks.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def type(self, statement: str) -> None:
        self.proc.stdin.write(statement.encode() + b"\n")
        self.proc.stdin.flush()

    def wait_for(self, found, what: str) -> None:
        deadline = time.monotonic() + BUDGET_S
        while not found(self.text):
            if self.proc.poll() is not None:
                pytest.fail(f"the client exited ({self.proc.returncode}):\n{self.text[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {BUDGET_S} s:\n{self.text[-3000:]}")
            time.sleep(0.2)

    def end(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        lifeline.untie(self.proc.pid)
        self.reader.join(10)


@pytest.fixture
def positions(topic_factory, tmp_path):
    """Eleven positions on fresh topics; an ISS_* environment that points at them."""
    tag = uuid.uuid4().hex[:8]
    settings = topic_factory(home=tmp_path, flink={"group": f"isspanel-flink-{tag}"})
    ensure_topics(settings)
    source = Sgp4Source(settings)
    end = int(time.time()) // 60 * 60 - 3600
    IssProducer(settings, source).publish_all(list(source.history(11, step_s=60, end_ts=end)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISS_")}
    env |= kafka_env(settings) | {
        "ISS_HOME": str(tmp_path),
        "ISS_FLINK_GROUP": settings.flink.group,
    }
    return Namespace(settings=settings, env=env)


@pytest.mark.flink
def test_the_sql_client_has_the_projects_tables_and_reads_the_topics(positions):
    """SHOW TABLES lists the four tables; a query counts the eleven positions on the settings'
    topic; everything the client and its mini-cluster listen on is loopback."""
    session = Session(positions.env)
    try:
        session.type("SHOW TABLES;")
        session.wait_for(lambda t: all(re.search(rf"\| +{n} \|", t) for n in TABLES), "tables")
        # Unbounded (as typed at a terminal): it keeps running, so its mini-cluster is up.
        session.type("SELECT COUNT(*) AS n FROM iss_location;")
        session.wait_for(lambda t: re.search(r"\| [+][IU] \| +11 \|", t), "count of 11")
        sockets = listening(session.proc.pid)
        assert len(sockets) >= 3, sockets  # the client's SQL gateway, the query's REST and blob
        wide = [s for s in sockets if not s[0].startswith(LOOPBACK)]
        assert not wide, f"listening beyond loopback: {wide} (all: {sockets})"
        assert "ERROR" not in session.text, session.text[-3000:]
        # The query's mini-cluster unpacks Flink's RPC jar in the client's scratch, not /tmp.
        scratch = positions.settings.home / "flink" / "tmp" / str(session.proc.pid)
        assert list(scratch.glob("flink-rpc-akka*.jar")), list(scratch.parent.glob("*/*"))
    finally:
        session.end()
    assert not group_members(session.proc.pid), "a process of the client outlived it"
