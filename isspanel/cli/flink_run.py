"""`isspanel flink run`: create the topics, submit the jobs, wait, and stop cleanly on a signal.

Stopping: SIGINT and SIGTERM only set an event, so no KeyboardInterrupt lands inside a py4j call
(py4j logs those with a traceback). The step under way finishes, then the job is stopped with a
savepoint through the REST API while the gateway JVM is still there (cancelled if Flink cannot
take one); the next run resumes from it (isspanel.analytics.savepoints). A second signal quits at
once. When the JVM got the signal too (SIGTERM to the whole process group), the local job ended
with it and no py4j call is made; py4j's own connection errors go to DEBUG (shown with -v). The
next run resumes from the job's last checkpoint then.
"""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import nullcontext

import requests
from kafka.errors import KafkaError

from isspanel.analytics import cluster, savepoints
from isspanel.analytics.environment import (
    create_table_env,
    gateway_alive,
    quiet_py4j,
    root_cause,
    web_url,
)
from isspanel.analytics.jobs import (
    JOBS,
    RUN_CONFIG,
    TERMINAL,
    job_statements,
    job_status,
    job_topics,
    submit,
)
from isspanel.broker.topics import ensure_topics
from isspanel.processes import StopSignals
from isspanel.settings import Settings

log = logging.getLogger("isspanel.analytics.run")  # the name its lines have always had

STOP_TIMEOUT_S = 60.0  # for the savepoint of a stop; then the job is cancelled


class StartError(RuntimeError):
    """The job cannot start; the message says why, in one line."""


# -- topics -----------------------------------------------------------------------------------


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
    why = unreachable(settings.kafka.bootstrap_servers)
    if why:
        raise StartError(
            f"the Kafka broker does not answer ({why}); start it (`isspanel kafka start`) or "
            "set ISS_KAFKA_BOOTSTRAP. No Flink job was submitted."
        )
    try:
        ensure_topics(settings, names)
    except KafkaError as exc:
        raise StartError(
            f"could not check or create the topics {', '.join(names)} on"
            f" {settings.kafka.bootstrap_servers}: {exc}. No Flink job was submitted."
        ) from exc


def rest_port_taken(settings: Settings) -> str | None:
    """Why the local mini-cluster cannot bind its REST port, or None when it can (or when the
    job goes to a JobManager). Asked before the gateway JVM starts: Flink would find out only
    in the JVM, after 10-20 CPU-s of start-up, with a BindException."""
    port = settings.flink.rest_port
    if settings.flink.jobmanager or not port:
        return None
    bind = settings.flink.bind_address
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family) as sock:
        # As the JVM binds it (SO_REUSEADDR, Java's default on Linux): a port in TIME_WAIT is
        # free to it, one that something listens on is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except OSError as exc:
            return f"{bind or '*'}:{port}: {exc.strerror or exc}"
    return None


# -- waiting and stopping ---------------------------------------------------------------------


def stop_signals() -> StopSignals:
    """SIGINT and SIGTERM stop the job at the next step; a second one quits at once."""
    return StopSignals(
        log,
        "%s: stopping the Flink job (a second signal quits at once)",
        again="%s again: quitting without waiting for the Flink job",
    )


def jvm_gone(settings: Settings) -> str:
    """Say that the gateway JVM has stopped (say a SIGTERM to the whole process group)."""
    if settings.flink.jobmanager:
        log.warning(
            "the Flink client JVM has stopped; the job keeps running on %s "
            "(`isspanel flink cancel` stops it)",
            settings.flink.jobmanager,
        )
    else:
        log.info("the Flink JVM has stopped; the job on its mini-cluster ended with it")
    return "STOPPED"


def cancel(result, settings: Settings, savepoint_dir: str | None = None) -> str:
    """Stop with a savepoint in ``savepoint_dir`` (else cancel), wait for the end; return the
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
            where = cluster.rest_stop(web_url(settings), job_id, savepoint_dir, STOP_TIMEOUT_S)
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
    savepoint_dir: str | None = None,
) -> str:
    """Block until the job ends or ``stop`` is set (then stop it); return its final state."""
    outcome = result.get_job_client().get_job_execution_result()
    while not stop.wait(poll_s):
        state = job_status(result)
        if state in ("CANCELED", "FINISHED"):
            return state
        try:
            ended = state in TERMINAL or outcome.done()
        except Exception:
            ended = True  # the JVM is going away: final_state says so
        if ended:
            return final_state(result, settings)
    return cancel(result, settings, savepoint_dir)


def run(settings: Settings, jobs: list[str] | None, detach: bool = False) -> int:
    """Create the topics, submit ``jobs`` (default all) as one Flink job and wait for its end."""
    names = list(jobs or JOBS)
    if detach and not settings.flink.jobmanager:
        log.warning(
            "--detach needs --jobmanager: a local mini-cluster lives in this process, "
            "so the jobs run until it is stopped (Ctrl-C)"
        )
        detach = False
    quiet_py4j()
    marker = cluster.run_marker(settings) if not settings.flink.jobmanager else nullcontext()
    with stop_signals() as stop, marker:  # marked: `flink cancel` can stop it while it starts
        taken = rest_port_taken(settings)
        if taken:
            log.error(
                "the Flink REST port is taken (%s): another `isspanel flink run`? Stop it, or "
                "set ISS_FLINK_REST_PORT. No Flink job was submitted.",
                taken,
            )
            return 1
        try:
            prepare_topics(settings, names)
        except StartError as exc:
            log.error("%s", exc)
            return 1
        # A second job would share the first one's consumer group and Kafka transactional ids
        # (they would fence each other); a local mini-cluster refuses a second run by its port.
        active = cluster.already_running(settings) if settings.flink.jobmanager else []
        if active:
            log.info(
                "%s (%s) already runs on %s: not submitting another (`isspanel flink cancel` "
                "stops it)",
                active[0]["jid"],
                active[0]["name"],
                settings.flink.jobmanager,
            )
            return 0
        result = None
        statements = job_statements(settings, names)
        config = RUN_CONFIG | savepoints.prepare(settings, statements)
        try:  # each step is a long py4j call: a signal is seen between them
            if not stop.event.is_set():
                t_env = create_table_env(settings, **config)
            if not stop.event.is_set():
                result = submit(settings, names, t_env)
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
            savepoint_dir = config.get("execution.checkpointing.savepoint-dir")
            state = wait(result, stop.event, settings, savepoint_dir=savepoint_dir)
        except Exception:  # a py4j call failed: the JVM went away (with a signal?)
            if gateway_alive(settle_s=5.0):
                raise
            state = jvm_gone(settings)
    log.info("the Flink job ended: %s", state)
    asked = stop.event.is_set()
    return 1 if state == "FAILED" or (state == "STOPPED" and not asked) else 0
