"""`isspanel flink run`: create the topics, submit the jobs, wait, and stop cleanly on a signal.

Stopping: SIGINT and SIGTERM only set an event, so no KeyboardInterrupt lands inside a py4j call
(py4j logs those with a traceback). The step under way finishes, then the job is stopped with a
savepoint through its JobClient while the gateway JVM is still there (cancelled if Flink cannot
take one); the next run resumes from it (isspanel.analytics.state). A second signal quits at once.
When the JVM got the signal too (SIGTERM to the whole process group), the local job ended with
it and no py4j call is made; py4j's own connection errors go to DEBUG (shown with -v). The next
run resumes from the job's last checkpoint then.
"""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import nullcontext

import requests
from kafka.errors import KafkaError

from isspanel.analytics import local as flink_local
from isspanel.analytics import rest as flink_rest
from isspanel.analytics import runner as flink_runner
from isspanel.analytics import state as flink_state
from isspanel.analytics.jvm import (
    StopSignals,
    gateway_alive,
    quiet_py4j,
    root_cause,
)
from isspanel.broker.topics import ensure_topics
from isspanel.settings import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 60.0  # for the savepoint of a stop; then the job is cancelled
# The topic each job writes (a Settings attribute); every job reads settings.topic.
SINKS = {"speed": "speed_topic", "stats": "stats_topic", "crossings": "events_topic"}


class StartError(RuntimeError):
    """The job cannot start; the message says why, in one line."""


# -- topics -----------------------------------------------------------------------------------


def job_topics(settings: Settings, jobs: list[str]) -> list[str]:
    """The topics ``jobs`` read and write."""
    return [settings.topic, *(getattr(settings, SINKS[name]) for name in jobs)]


def unreachable(bootstrap: str, timeout_s: float = 5.0) -> str | None:
    """Why no bootstrap server accepts a connection, or None when one does."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return None
        except (OSError, ValueError) as exc:
            errors.append(f"{server.strip()}: {exc}")
    return "; ".join(errors)


def prepare_topics(settings: Settings, jobs: list[str]) -> None:
    """Create the missing topics of ``jobs``: a Kafka sink or source on a missing topic waits
    silently when the broker does not create topics itself. StartError when it cannot."""
    names = job_topics(settings, jobs)
    why = unreachable(settings.bootstrap)
    if why:
        raise StartError(
            f"the Kafka broker does not answer ({why}); start it (`isspanel kafka start`) or "
            "set ISS_KAFKA_BOOTSTRAP. No Flink job was submitted."
        )
    try:
        ensure_topics(settings, names)
    except KafkaError as exc:
        raise StartError(
            f"could not check or create the topics {', '.join(names)} on {settings.bootstrap}: "
            f"{exc}. No Flink job was submitted."
        ) from exc


def already_running(settings: Settings) -> list[dict]:
    """isspanel jobs active on the cluster at ISS_FLINK_JOBMANAGER (none if it does not say)."""
    try:
        jobs = flink_rest.rest_jobs(settings)
    except (requests.RequestException, KeyError, ValueError):
        return []  # the submission says what is wrong
    return [
        j for j in jobs if j["state"] in flink_runner.ACTIVE and j["name"].startswith("isspanel")
    ]


# -- waiting and stopping ---------------------------------------------------------------------


def jvm_gone(settings: Settings) -> str:
    """Say that the gateway JVM has stopped (say a SIGTERM to the whole process group)."""
    if settings.jobmanager:
        log.warning(
            "the Flink client JVM has stopped; the job keeps running on %s "
            "(`isspanel flink cancel` stops it)",
            settings.jobmanager,
        )
    else:
        log.info("the Flink JVM has stopped; the job on its mini-cluster ended with it")
    return "STOPPED"


def cancel(result, settings: Settings, savepoints: str | None = None) -> str:
    """Stop with a savepoint in ``savepoints`` (else cancel), wait for the end; return the
    final state."""
    if not gateway_alive():
        return jvm_gone(settings)
    try:
        client = result.get_job_client()
        job_id = str(client.get_job_id())
        # Through the REST API: PyFlink 2.2's JobClient.stop_with_savepoint calls a Java method
        # that Flink 2 no longer has (it takes a SavepointFormatType now).
        try:
            log.info("stopping the Flink job %s with a savepoint", job_id)
            where = flink_rest.rest_stop(
                flink_runner.web_url(settings), job_id, savepoints, STOP_TIMEOUT_S
            )
            log.info("savepoint %s taken: the next run resumes from it", where)
        except (RuntimeError, requests.RequestException, KeyError, ValueError) as exc:
            if not gateway_alive(settle_s=5.0):
                return jvm_gone(settings)
            log.warning(
                "no savepoint (%s): cancelling the job; the next run resumes from its last "
                "checkpoint",
                root_cause(exc),
            )
            client.cancel().result()
    except Exception as exc:
        if not gateway_alive(settle_s=5.0):  # the JVM was stopped by the same signal
            return jvm_gone(settings)
        log.warning("cancel failed: %s", root_cause(exc))
    return final_state(result, settings)


def final_state(result, settings: Settings) -> str:
    """How the job ended, from its execution result; a JVM that went away is said as such."""
    try:
        result.get_job_client().get_job_execution_result().result()
        return "FINISHED"
    except Exception as exc:
        if "JobCancellationException" in str(exc):
            return "CANCELED"
        if not gateway_alive(settle_s=5.0):
            return jvm_gone(settings)
        log.error("the Flink job failed: %s", root_cause(exc))
        return "FAILED"


def wait(
    result,
    stop: threading.Event,
    settings: Settings,
    poll_s: float = 1.0,
    savepoints: str | None = None,
) -> str:
    """Block until the job ends or ``stop`` is set (then stop it); return its final state."""
    outcome = result.get_job_client().get_job_execution_result()
    while not stop.wait(poll_s):
        state = flink_runner.job_status(result)
        if state in ("CANCELED", "FINISHED"):
            return state
        try:
            ended = state in flink_runner.TERMINAL or outcome.done()
        except Exception:
            ended = True  # the JVM is going away: final_state says so
        if ended:
            return final_state(result, settings)
    return cancel(result, settings, savepoints)


def run(settings: Settings, jobs: list[str] | None, detach: bool = False) -> int:
    """Create the topics, submit ``jobs`` (default all) as one Flink job and wait for its end."""
    names = list(jobs or flink_runner.JOBS)
    if detach and not settings.jobmanager:
        log.warning(
            "--detach needs --jobmanager: a local mini-cluster lives in this process, "
            "so the jobs run until it is stopped (Ctrl-C)"
        )
        detach = False
    quiet_py4j()
    marker = flink_local.run_marker(settings) if not settings.jobmanager else nullcontext()
    with StopSignals() as stop, marker:  # marked: `flink cancel` can stop it while it starts
        try:
            prepare_topics(settings, names)
        except StartError as exc:
            log.error("%s", exc)
            return 1
        # A second job would share the first one's consumer group and Kafka transactional ids
        # (they would fence each other); a local mini-cluster refuses a second run by its port.
        active = already_running(settings) if settings.jobmanager else []
        if active:
            log.info(
                "%s (%s) already runs on %s: not submitting another (`isspanel flink cancel` "
                "stops it)",
                active[0]["jid"],
                active[0]["name"],
                settings.jobmanager,
            )
            return 0
        result = None
        statements = flink_runner.job_statements(settings, names)
        config = flink_runner.RUN_CONFIG | flink_state.prepare(settings, statements)
        try:  # each step is a long py4j call: a signal is seen between them
            if not stop.event.is_set():
                t_env = flink_runner.create_table_env(settings, **config)
            if not stop.event.is_set():
                result = flink_runner.submit(settings, names, t_env)
        except Exception as exc:
            if stop.event.is_set() and not gateway_alive(settle_s=5.0):
                jvm_gone(settings)
                return 0
            log.error("the Flink job could not be submitted: %s", root_cause(exc))
            return 1
        if result is None:
            log.info("stopped before the Flink job was submitted")
            return 0
        if detach:
            return 0
        try:
            savepoints = config.get("execution.checkpointing.savepoint-dir")
            state = wait(result, stop.event, settings, savepoints=savepoints)
        except Exception:  # a py4j call failed: the JVM went away (with a signal?)
            if gateway_alive(settle_s=5.0):
                raise
            state = jvm_gone(settings)
    log.info("the Flink job ended: %s", state)
    asked = stop.event.is_set()
    return 1 if state == "FAILED" or (state == "STOPPED" and not asked) else 0
