"""Run the Flink SQL jobs of flink/*.sql with PyFlink (list and stop them: isspanel.flink_rest).

Jobs (one function each, as in PyFlink's table examples):
    speed      ground speed per position          -> iss-speed
    stats      10-minute tumbling-window stats    -> iss-stats
    crossings  equator and antimeridian crossings, and anomalies -> iss-events

All chosen jobs share one source and one OVER operator in a single Flink job (StatementSet).
Without a JobManager (ISS_FLINK_JOBMANAGER empty) the job runs on a mini-cluster inside this
process: its REST API and web UI answer on ISS_FLINK_BIND_ADDRESS:ISS_FLINK_REST_PORT (loopback by
default) while `isspanel flink run` runs. The run command itself is in isspanel.flink_run.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from isspanel.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "flink"
# For the long-running `isspanel flink run`; the checkpoint interval is set by the SQL of the
# jobs (their exactly-once sinks commit with each checkpoint), the state folder by flink_state.
RUN_CONFIG = {"restart-strategy.type": "exponential-delay"}
SOURCE_FILES = ("00_source_iss_location.sql", "05_legs.sql")
TERMINAL = {"FINISHED", "CANCELED", "FAILED", "SUSPENDED"}
ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING"}


# -- SQL files --------------------------------------------------------------------------------


def split_statements(text: str) -> list[str]:
    """Split SQL on `;`, dropping `--` and `/* */` comments (hints `/*+ */` stay)."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'`\"":
            end = i + 1
            while end < n:
                if text[end] == c:
                    if end + 1 < n and text[end + 1] == c:  # '' escapes a quote
                        end += 2
                        continue
                    break
                end += 1
            current.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i) and not text.startswith("/*+", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(c)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _quote(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _option(sql: str, key: str, value: Callable[[str], str]) -> str:
    """Rewrite the value of ``'key' = '...'`` WITH options."""
    pattern = re.compile(r"('" + re.escape(key) + r"'\s*=\s*)'((?:[^']|'')*)'")
    return pattern.sub(lambda m: m.group(1) + _quote(value(m.group(2).replace("''", "'"))), sql)


def _prefix(value: str, settings: Settings, topics: dict[str, str]) -> str:
    """'isspanel-flink-iss-speed' -> '<flink group>-<speed topic>': unique per group and sink."""
    topic = value.removeprefix("isspanel-flink-")
    return f"{settings.flink_group}-{topics.get(topic, topic)}"


def _number(value: float) -> str:
    return repr(float(value))


def substitute(sql: str, settings: Settings, bounded: bool = False) -> str:
    """Point the SQL as written (local defaults) at ``settings``; ``bounded`` reads what the
    topic holds, from its earliest offset to the end."""
    topics = {
        "iss-location": settings.topic,
        "iss-speed": settings.speed_topic,
        "iss-stats": settings.stats_topic,
        "iss-events": settings.events_topic,
    }
    sql = _option(sql, "topic", lambda v: topics.get(v, v))
    sql = _option(sql, "properties.bootstrap.servers", lambda _v: settings.bootstrap)
    sql = _option(sql, "properties.group.id", lambda _v: settings.flink_group)
    sql = _option(sql, "sink.transactional-id-prefix", lambda v: _prefix(v, settings, topics))
    sql = _option(
        sql, "execution.checkpointing.interval", lambda _v: f"{settings.flink_checkpoint_s} s"
    )
    for bound, value in (("min", settings.min_speed_kmh), ("max", settings.max_speed_kmh)):
        sql = re.sub(
            r"(CAST\(\s*)[-+0-9.eE]+(\s+AS\s+DOUBLE\s*\)\s+AS\s+" + bound + r"_speed_kmh\b)",
            lambda m, v=value: f"{m.group(1)}{_number(v)}{m.group(2)}",
            sql,
            flags=re.IGNORECASE,
        )
    sql = re.sub(
        r"(DESCRIPTOR\(\s*event_time\s*\)\s*,\s*INTERVAL\s*')\d+('\s*MINUTES?)",
        lambda m: f"{m.group(1)}{settings.window_minutes}{m.group(2)}",
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
    return split_statements(substitute(path.read_text(), settings, bounded))


# -- table environment ------------------------------------------------------------------------


def connector_jar(settings: Settings) -> Path:
    jars = sorted((settings.jars_dir / "flink").glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no flink-sql-connector-kafka jar in {settings.jars_dir / 'flink'}: run `make jars`"
        )
    return jars[-1]


def local_host(settings: Settings) -> str:
    """Where clients reach the local mini-cluster: its bind address, unless a wildcard."""
    bind = settings.flink_bind_address
    return "localhost" if bind in ("", "0.0.0.0", "::") else bind


def rest_address(settings: Settings) -> str:
    """host:port of the JobManager REST API (the local mini-cluster's when none is set)."""
    return settings.jobmanager or f"{local_host(settings)}:{settings.flink_rest_port}"


def web_url(settings: Settings) -> str:
    return f"http://{rest_address(settings)}/"


def flink_config(settings: Settings) -> dict[str, str]:
    config = {
        "parallelism.default": str(settings.flink_parallelism),
        "pipeline.jars": connector_jar(settings).as_uri(),
        "table.local-time-zone": "UTC",
        "pipeline.object-reuse": "true",
        # Kafka client threads log after a cancelled job's class loader closed: harmless noise.
        "classloader.check-leaked-classloader": "false",
    }
    if settings.jobmanager:
        host, _, port = settings.jobmanager.rpartition(":")
        config |= {"execution.target": "remote", "rest.address": host, "rest.port": port}
    else:
        # The REST API accepts jobs (runs code): it and the blob server (jobmanager.bind-host)
        # listen on the bind address only. RPC and data exchange of a mini-cluster stay inside
        # the JVM; their keys are set too, so that nothing else binds a wildcard address.
        bind = settings.flink_bind_address
        config |= {"rest.address": local_host(settings), "rest.port": str(settings.flink_rest_port)}
        for key in ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host"):
            config[key] = bind
        config["jobmanager.rpc.address"] = config["taskmanager.host"] = local_host(settings)
    return config


def create_table_env(settings: Settings, **config: str):
    """A streaming TableEnvironment: local mini-cluster or remote JobManager, connector jar."""
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    # The gateway JVM (and the mini-cluster in it) logs here rather than into site-packages.
    log_dir = settings.home / "flink" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FLINK_LOG_DIR", str(log_dir))
    # On a mini-cluster PyFlink otherwise starts a gRPC server for Python UDF workers in this
    # process, listening on [::] (all interfaces). Our jobs are pure SQL: in "process" mode a UDF
    # would get a worker process from the JVM instead, and nothing listens.
    os.environ.setdefault("_python_worker_execution_mode", "process")
    conf = Configuration()
    for key, value in (flink_config(settings) | config).items():
        conf.set_string(key, value)
    env_settings = (
        EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
    )
    root = logging.getLogger()
    level = root.level
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    t_env = TableEnvironment.create(env_settings)
    root.setLevel(level)  # PyFlink's Beam worker module sets the root logger to WARNING
    # Set through TableConfig too: that also puts the jar on the client's class loader.
    t_env.get_config().set("pipeline.jars", conf.get_string("pipeline.jars", ""))
    return t_env


_SET = re.compile(r"^SET\s+'([^']+)'\s*=\s*'((?:[^']|'')*)'$", re.IGNORECASE | re.DOTALL)


def apply(t_env, statements: Iterable[str], statement_set=None) -> None:
    """Run SET and DDL statements now; add INSERTs to ``statement_set``."""
    for sql in statements:
        match = _SET.match(sql)
        if match:
            t_env.get_config().set(match.group(1), match.group(2).replace("''", "'"))
        elif re.match(r"^INSERT\s", sql, re.IGNORECASE):
            if statement_set is None:
                raise ValueError("an INSERT needs a statement set")
            statement_set.add_insert_sql(sql)
        else:
            t_env.execute_sql(sql)


def create_sources(t_env, settings: Settings, bounded: bool = False) -> None:
    """The source table and the shared views (00, 05)."""
    for name in SOURCE_FILES:
        apply(t_env, load_sql(name, settings, bounded))


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))


def check_sql(settings: Settings, t_env=None) -> dict[str, list[str]]:
    """Parse every flink/*.sql file as written with Flink's parser and plan its INSERTs.

    Returns the operations per file; raises on the first statement Flink rejects.
    """
    t_env = t_env or create_table_env(settings)
    parser = t_env._j_tenv.getParser()
    checked: dict[str, list[str]] = {}
    for path in sql_files():
        kinds = []
        for sql in split_statements(path.read_text()):
            operations = parser.parse(sql)
            kinds += [op.getClass().getSimpleName() for op in operations]
            if re.match(r"^INSERT\s", sql, re.IGNORECASE):
                t_env.explain_sql(sql)  # validates the sink's connector options too
            else:
                apply(t_env, [sql])
        checked[path.name] = kinds
    return checked


# -- jobs -------------------------------------------------------------------------------------


JOB_FILES = {"speed": "10_speed.sql", "stats": "20_stats.sql", "crossings": "30_crossings.sql"}


def speed_job(t_env, settings: Settings, statement_set) -> None:
    """Ground speed per position to the speed topic."""
    apply(t_env, load_sql(JOB_FILES["speed"], settings), statement_set)


def stats_job(t_env, settings: Settings, statement_set) -> None:
    """Tumbling-window statistics to the stats topic."""
    apply(t_env, load_sql(JOB_FILES["stats"], settings), statement_set)


def crossings_job(t_env, settings: Settings, statement_set) -> None:
    """Equator and antimeridian crossings, and anomalies, to the events topic."""
    apply(t_env, load_sql(JOB_FILES["crossings"], settings), statement_set)


JOBS: dict[str, Callable] = {"speed": speed_job, "stats": stats_job, "crossings": crossings_job}


def job_statements(settings: Settings, jobs: Iterable[str]) -> list[str]:
    """Every statement a submission of ``jobs`` runs, in order (names a plan: flink_state)."""
    files = [*SOURCE_FILES, *(JOB_FILES[name] for name in jobs)]
    return [s for name in files for s in load_sql(name, settings)]


def submit(settings: Settings, jobs: Iterable[str] | None = None, t_env=None, bounded=False):
    """Submit ``jobs`` (default all) as one Flink job; return its TableResult."""
    names = list(jobs or JOBS)
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        raise ValueError(f"unknown job(s) {', '.join(unknown)}; choose from {', '.join(JOBS)}")
    t_env = t_env or create_table_env(settings)
    create_sources(t_env, settings, bounded)
    statement_set = t_env.create_statement_set()
    for name in names:
        JOBS[name](t_env, settings, statement_set)
    t_env.get_config().set("pipeline.name", "isspanel: " + "+".join(names))
    result = statement_set.execute()
    job_id = str(result.get_job_client().get_job_id())
    where = settings.jobmanager or "the local mini-cluster"
    log.info("submitted Flink job %s (%s) to %s", job_id, "+".join(names), where)
    log.info("Flink web UI: %s#/job/running/%s/overview", web_url(settings), job_id)
    return result


def job_status(result) -> str:
    """RUNNING, CANCELED, ...; UNKNOWN once a per-job mini-cluster has shut down."""
    try:
        return str(result.get_job_client().get_job_status().result()).rsplit(".", 1)[-1]
    except Exception as exc:
        log.debug("job status unavailable: %s", exc)
        return "UNKNOWN"


def _ended(state: str) -> bool:
    return state in TERMINAL or state == "UNKNOWN"


def collect(t_env, query: str, max_rows: int = 10, timeout_s: float = 60.0) -> list:
    """Up to ``max_rows`` rows of a (streaming) query, waiting at most ``timeout_s``.

    PyFlink cannot collect TIMESTAMP_LTZ columns: cast them, e.g. to TIMESTAMP(3).
    """
    result = t_env.execute_sql(query)
    rows: list = []
    stopping = threading.Event()

    def pull() -> None:
        try:
            with result.collect() as iterator:
                for row in iterator:
                    rows.append(row)
                    if len(rows) >= max_rows:
                        break
        except Exception as exc:
            if not stopping.is_set():
                log.warning("collect failed: %s", str(exc).splitlines()[-1][:300])

    thread = threading.Thread(target=pull, daemon=True)
    thread.start()
    thread.join(timeout_s)
    stopping.set()
    client = result.get_job_client()
    if client is not None and not _ended(job_status(result)):
        try:
            client.cancel().result()
        except Exception as exc:
            log.debug("cancel after collect: %s", exc)
    thread.join(10)
    return list(rows)


# -- the `isspanel flink` command -------------------------------------------------------------


def main(args, settings: Settings) -> int:
    """`isspanel flink run|list|cancel`: ``args`` has action, jobs and detach."""
    jobs = list(getattr(args, "jobs", None) or [])
    if args.action == "run":
        unknown = [name for name in jobs if name not in JOBS]
        if unknown:
            log.error("unknown job(s) %s; choose from %s", ", ".join(unknown), ", ".join(JOBS))
            return 2
        from isspanel.flink_run import run  # it uses this module

        return run(settings, jobs or None, bool(getattr(args, "detach", False)))
    from isspanel import flink_rest  # it uses this module

    if args.action == "list":
        return flink_rest.list_jobs(settings)
    if args.action == "cancel":
        return flink_rest.cancel_jobs(settings, jobs)
    raise ValueError(f"unknown action {args.action!r}")
