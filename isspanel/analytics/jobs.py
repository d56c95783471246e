"""The Flink SQL jobs of flink/*.sql, run with PyFlink: put together, submitted, watched.

Jobs (one function each, as in PyFlink's table examples):
    speed      ground speed per position          -> iss-speed
    stats      10-minute tumbling-window stats    -> iss-stats
    crossings  equator and antimeridian crossings, and anomalies -> iss-events

All chosen jobs share one source and one OVER operator in a single Flink job (StatementSet).
Without a JobManager (ISS_FLINK_JOBMANAGER empty) the job runs on a mini-cluster inside this
process: its REST API and web UI answer on ISS_FLINK_BIND_ADDRESS:ISS_FLINK_REST_PORT (loopback by
default) while `isspanel flink run` (isspanel.cli.flink_run) runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from isspanel.analytics.environment import create_table_env, web_url
from isspanel.analytics.sql import (
    load_sql,
    set_option,
    split_statements,
    sql_files,
    statement_kind,
)
from isspanel.settings import Settings

log = logging.getLogger("isspanel.analytics.runner")  # the name its lines have always had

# For the long-running `isspanel flink run`; the checkpoint interval is set by the SQL of the
# jobs (their exactly-once sinks commit with each checkpoint), the state folder by savepoints.
RUN_CONFIG = {"restart-strategy.type": "exponential-delay"}
SOURCE_FILES = ("00_source_iss_location.sql", "05_legs.sql")
TERMINAL = {"FINISHED", "CANCELED", "FAILED", "SUSPENDED"}
ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING"}


# -- statements -------------------------------------------------------------------------------


def apply(t_env, statements: Iterable[str], statement_set=None) -> None:
    """Run SET and DDL statements now; add INSERTs to ``statement_set``."""
    for sql in statements:
        option = set_option(sql)
        if option is not None:
            t_env.get_config().set(*option)
        elif statement_kind(sql) == "INSERT":
            if statement_set is None:
                raise ValueError("an INSERT needs a statement set")
            statement_set.add_insert_sql(sql)
        else:
            t_env.execute_sql(sql)


def create_sources(t_env, settings: Settings, bounded: bool = False) -> None:
    """The source table and the shared views (00, 05)."""
    for name in SOURCE_FILES:
        apply(t_env, load_sql(name, settings, bounded))


def check_sql(settings: Settings, t_env=None) -> dict[str, list[str]]:
    """Run every flink/*.sql file as written on a throwaway TableEnvironment: SET and DDL as
    `apply` runs them (execute_sql), INSERTs planned with explain_sql, not run.

    Returns the statement kinds per file; raises on the first statement Flink rejects.
    """
    t_env = t_env or create_table_env(settings)
    checked: dict[str, list[str]] = {}
    for path in sql_files():
        kinds = []
        for sql in split_statements(path.read_text()):
            kinds.append(statement_kind(sql))
            if kinds[-1] == "INSERT":
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
# The topic each job writes (a field of settings.topics); every job reads settings.topics.location.
SINKS = {"speed": "speed", "stats": "stats", "crossings": "events"}


def job_topics(settings: Settings, jobs: Iterable[str]) -> list[str]:
    """The topics ``jobs`` read and write."""
    return [settings.topics.location, *(getattr(settings.topics, SINKS[name]) for name in jobs)]


def job_statements(settings: Settings, jobs: Iterable[str]) -> list[str]:
    """Every statement a submission of ``jobs`` runs, in order (names a plan: savepoints)."""
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
    where = settings.flink.jobmanager or "the local mini-cluster"
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
