"""`isspanel flink list|cancel`: the jobs of the cluster over its REST API, and their exit codes.

A cancel stops each job with a savepoint in its state folder (isspanel.analytics.savepoints), so
the next `isspanel flink run` resumes exactly where the job stopped; jobs that cannot take one
(still starting, or not ours) are cancelled instead. It first waits for the tasks of a job that
is still starting; a local run whose job is not listed yet is stopped as a whole.
"""

from __future__ import annotations

import logging

import requests

from isspanel.analytics import cluster
from isspanel.analytics.environment import rest_address, web_url
from isspanel.analytics.savepoints import savepoint_target
from isspanel.settings import Settings

log = logging.getLogger("isspanel.analytics.rest")  # the name its lines have always had


def _unreachable(settings: Settings, exc: Exception) -> int:
    if settings.flink.jobmanager:
        log.error("JobManager %s does not answer: %s", settings.flink.jobmanager, exc)
        return 1
    log.info(
        "no local Flink mini-cluster answers on port %d: jobs on the local mini-cluster live "
        "inside the running `isspanel flink run` process (Ctrl-C there cancels them); "
        "none is running",
        settings.flink.rest_port,
    )
    return 0


def list_jobs(settings: Settings) -> int:
    try:
        jobs = cluster.rest_jobs(settings)
    except requests.RequestException as exc:
        return _unreachable(settings, exc)
    if not jobs:
        log.info("no Flink jobs at %s", rest_address(settings))
    for job in jobs:
        log.info("%s %-12s %s", job["jid"], job["state"], job["name"])
    return 0


def _stop_local_run(settings: Settings, pid: int) -> int:
    return 0 if cluster.stop_local_run(settings, pid) else 1


def cancel_jobs(settings: Settings, ids: list[str]) -> int:
    """Stop each job with a savepoint (the next run resumes there); cancel it if Flink cannot."""
    # A local run whose job is not listed yet (its REST API may not answer yet) is stopped
    # as a whole: the job would start a moment later.
    starting = None if settings.flink.jobmanager else cluster.local_run(settings)
    try:
        jobs = cluster.rest_jobs(settings)
    except requests.RequestException as exc:
        if starting:
            return _stop_local_run(settings, starting)
        return _unreachable(settings, exc)
    if not ids:
        ids = [j["jid"] for j in cluster.ours_active(jobs)]
        if not ids and starting:
            return _stop_local_run(settings, starting)
        if not ids:
            log.info("no running isspanel job at %s", rest_address(settings))
    names = {j["jid"]: j["name"] for j in jobs}
    failed = 0
    for job_id in ids:
        try:
            failed += _stop_or_cancel(settings, job_id, names.get(job_id, ""))
        except requests.RequestException as exc:
            log.error("could not cancel %s: %s", job_id, exc)
            failed += 1
    return 1 if failed else 0


def _stop_or_cancel(settings: Settings, job_id: str, name: str) -> int:
    """Stop ``job_id`` with a savepoint, else cancel it; 1 when it may still run."""
    base_url = web_url(settings)
    try:
        ready = cluster.wait_for_tasks(base_url, job_id, cluster.READY_TIMEOUT_S)
        if not ready and not cluster.is_active(settings, job_id):
            log.info("%s has already ended", job_id)
            return 0
        where = cluster.rest_stop(base_url, job_id, savepoint_target(settings, name))
        log.info("stopped %s with a savepoint: %s", job_id, where)
        return 0
    except cluster.ClusterGone as exc:
        if settings.flink.jobmanager:
            log.error("%s", exc)
            return 1
        # A local mini-cluster lives in its `isspanel flink run`: with it gone, so is the job.
        log.warning(
            "%s: the job ended with its mini-cluster; the next run resumes from its "
            "last checkpoint",
            exc,
        )
        return 0
    except (RuntimeError, requests.HTTPError, KeyError, ValueError) as exc:
        log.warning("no savepoint of %s (%s): cancelling it", job_id, exc)
    cluster.rest_cancel(settings, job_id)
    log.info("cancelled %s", job_id)
    return 0
