"""Run the Flink SQL jobs of flink/*.sql with PyFlink; list and cancel them over REST.

Jobs (one function each, as in PyFlink's table examples):
    speed      ground speed per position          -> iss-speed
    stats      10-minute tumbling-window stats    -> iss-stats
    crossings  equator and antimeridian crossings -> iss-events

All chosen jobs share one source and one OVER operator in a single Flink job (StatementSet).
Without a JobManager (ISS_FLINK_JOBMANAGER empty) the job runs on a mini-cluster inside this
process: its REST API and web UI answer on ISS_FLINK_BIND_ADDRESS:ISS_FLINK_REST_PORT (loopback by
default) while `isspanel flink run` runs. The run command itself is in isspanel.analytics.run;
the SQL loading and the TableEnvironment are in isspanel.analytics.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable

import requests

# Moved to isspanel.analytics; imported here too, so that callers of flink_runner work unchanged.
from isspanel.analytics.environment import (  # noqa: F401
    connector_jar,
    create_table_env,
    flink_config,
    local_host,
    rest_address,
    web_url,
)
from isspanel.analytics.sql import (  # noqa: F401
    SQL_DIR,
    load_sql,
    split_statements,
    sql_files,
    statement_kind,
    substitute,
)
from isspanel.settings import Settings

log = logging.getLogger(__name__)

# For the long-running `isspanel flink run`: checkpoints keep the source offsets, so a restart
# after a failure (say a broker restart) resumes there instead of replaying the topic from the
# earliest offset. Not for bounded queries: they would wait for a last checkpoint to finish.
RUN_CONFIG = {
    "execution.checkpointing.interval": "30 s",
    "restart-strategy.type": "exponential-delay",
}
SOURCE_FILES = ("00_source_iss_location.sql", "05_legs.sql")
TERMINAL = {"FINISHED", "CANCELED", "FAILED", "SUSPENDED"}
ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING"}


# -- statements -------------------------------------------------------------------------------


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
            if re.match(r"^INSERT\s", sql, re.IGNORECASE):
                t_env.explain_sql(sql)  # validates the sink's connector options too
            else:
                apply(t_env, [sql])
        checked[path.name] = kinds
    return checked


# -- jobs -------------------------------------------------------------------------------------


def speed_job(t_env, settings: Settings, statement_set) -> None:
    """Ground speed per position to the speed topic."""
    apply(t_env, load_sql("10_speed.sql", settings), statement_set)


def stats_job(t_env, settings: Settings, statement_set) -> None:
    """Tumbling-window statistics to the stats topic."""
    apply(t_env, load_sql("20_stats.sql", settings), statement_set)


def crossings_job(t_env, settings: Settings, statement_set) -> None:
    """Equator and antimeridian crossings to the events topic."""
    apply(t_env, load_sql("30_crossings.sql", settings), statement_set)


JOBS: dict[str, Callable] = {"speed": speed_job, "stats": stats_job, "crossings": crossings_job}


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


# -- REST: list and cancel --------------------------------------------------------------------


def rest_jobs(settings: Settings, timeout_s: float = 5.0) -> list[dict]:
    """Jobs known to the JobManager, newest first."""
    response = requests.get(f"{web_url(settings)}jobs/overview", timeout=timeout_s)
    response.raise_for_status()
    return sorted(response.json()["jobs"], key=lambda j: j["start-time"], reverse=True)


def rest_cancel(settings: Settings, job_id: str, timeout_s: float = 10.0) -> None:
    response = requests.patch(
        f"{web_url(settings)}jobs/{job_id}", params={"mode": "cancel"}, timeout=timeout_s
    )
    response.raise_for_status()


def _unreachable(settings: Settings, exc: Exception) -> int:
    if settings.jobmanager:
        log.error("JobManager %s does not answer: %s", settings.jobmanager, exc)
        return 1
    log.info(
        "no local Flink mini-cluster answers on port %d: jobs on the local mini-cluster live "
        "inside the running `isspanel flink run` process (Ctrl-C there cancels them); "
        "none is running",
        settings.flink_rest_port,
    )
    return 0


def list_jobs(settings: Settings) -> int:
    try:
        jobs = rest_jobs(settings)
    except requests.RequestException as exc:
        return _unreachable(settings, exc)
    if not jobs:
        log.info("no Flink jobs at %s", rest_address(settings))
    for job in jobs:
        log.info("%s %-12s %s", job["jid"], job["state"], job["name"])
    return 0


def cancel_jobs(settings: Settings, ids: list[str]) -> int:
    try:
        jobs = rest_jobs(settings)
    except requests.RequestException as exc:
        return _unreachable(settings, exc)
    if not ids:
        ids = [j["jid"] for j in jobs if j["state"] in ACTIVE and j["name"].startswith("isspanel")]
        if not ids:
            log.info("no running isspanel job at %s", rest_address(settings))
    failed = 0
    for job_id in ids:
        try:
            rest_cancel(settings, job_id)
            log.info("cancelled %s", job_id)
        except requests.RequestException as exc:
            log.error("could not cancel %s: %s", job_id, exc)
            failed += 1
    return 1 if failed else 0


# -- the `isspanel flink` command -------------------------------------------------------------


def main(args, settings: Settings) -> int:
    """`isspanel flink run|list|cancel`: ``args`` has action, jobs and detach."""
    jobs = list(getattr(args, "jobs", None) or [])
    if args.action == "run":
        unknown = [name for name in jobs if name not in JOBS]
        if unknown:
            log.error("unknown job(s) %s; choose from %s", ", ".join(unknown), ", ".join(JOBS))
            return 2
        from isspanel.analytics.run import run  # it uses this module

        return run(settings, jobs or None, bool(getattr(args, "detach", False)))
    if args.action == "list":
        return list_jobs(settings)
    if args.action == "cancel":
        return cancel_jobs(settings, jobs)
    raise ValueError(f"unknown action {args.action!r}")
