"""`isspanel flink list|cancel`, and a stop with a savepoint, over Flink's REST API.

A stop takes a savepoint in the job's state folder (isspanel.analytics.state), so the next
`isspanel flink run` resumes exactly where the job stopped; jobs that cannot take one (still
starting, or not ours) are cancelled instead. `isspanel flink cancel` first waits for the tasks of
a job that is still starting; a stop whose local run exits (REST API and all) before the answer
is heard is judged by the savepoint folder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import requests

from isspanel.analytics import local as flink_local
from isspanel.analytics.runner import ACTIVE, rest_address, web_url
from isspanel.analytics.state import savepoint_target
from isspanel.settings import Settings

log = logging.getLogger(__name__)

# A job is RUNNING before its tasks are; `flink cancel` waits this long for them (a loaded
# machine has taken ~10 s) so that Flink can take the savepoint.
READY_TIMEOUT_S = 120.0


class ClusterGone(RuntimeError):
    """The REST API stopped answering during a stop, and no savepoint of it is on disk."""


@dataclass(frozen=True)
class StopRequest:
    """A stop with a savepoint that Flink has accepted."""

    base_url: str
    job_id: str
    target: str | None
    request_id: str
    since: float  # wall clock before the request: older savepoints are not this stop's


def request_stop(base_url: str, job_id: str, target: str | None) -> StopRequest:
    """Ask Flink to stop ``job_id`` with a savepoint in ``target`` (a cluster of its own may
    know none). RuntimeError (why) when it refuses."""
    body: dict = {"drain": False}
    if target:
        body["targetDirectory"] = target
    since = time.time()
    response = requests.post(f"{base_url}jobs/{job_id}/stop", json=body, timeout=10)
    if response.status_code >= 400:
        raise RuntimeError(f"HTTP {response.status_code}: {_rest_error(response)}")
    return StopRequest(base_url, job_id, target, response.json()["request-id"], since)


def stop_outcome(request: StopRequest, timeout_s: float = 120.0, poll_s: float = 0.5) -> str:
    """The savepoint's path once Flink has taken it. RuntimeError (why) when it cannot;
    ClusterGone when the REST API went away and left no savepoint of this stop.

    A local `isspanel flink run` exits as soon as its job has FINISHED, and its REST API with
    it: on a busy machine that happens before this poll hears COMPLETED. The savepoint folder
    then tells, since the job finishes only after its savepoint is complete.
    """
    url = f"{request.base_url}jobs/{request.job_id}/savepoints/{request.request_id}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            answer = requests.get(url, timeout=10)
        except requests.ConnectionError as exc:
            found = savepoint_on_disk(request)
            if found is not None:
                log.debug("REST API gone after the stop (%s); savepoint on disk", exc)
                return found
            raise ClusterGone(
                f"the Flink REST API at {request.base_url} stopped answering before it said "
                f"whether the savepoint of {request.job_id} was taken, and none is in "
                f"{request.target or 'a folder known here'}"
            ) from exc
        answer.raise_for_status()
        state = answer.json()
        if state.get("status", {}).get("id") == "COMPLETED":
            operation = state.get("operation", {})
            if "location" in operation:
                return operation["location"]
            cause = operation.get("failure-cause", {}).get("stack-trace", "no savepoint taken")
            raise RuntimeError(_first_cause(cause))
        time.sleep(poll_s)
    raise RuntimeError(f"no savepoint after {timeout_s:.0f} s")


def savepoint_on_disk(request: StopRequest) -> str | None:
    """The complete savepoint of ``request`` in its target folder (Flink names it
    savepoint-<first 6 characters of the job id>-<random>; `_metadata` is written last)."""
    if not request.target or urlparse(request.target).scheme not in ("file", ""):
        return None
    folder = Path(url2pathname(urlparse(request.target).path))
    found = []
    for meta in folder.glob(f"savepoint-{request.job_id[:6]}-*/_metadata"):
        try:
            mtime = meta.stat().st_mtime
        except OSError:
            continue
        if mtime >= request.since - 1.0:  # 1 s: file times may be coarser than the clock
            found.append((mtime, meta.parent))
    return max(found)[1].as_uri() if found else None


def rest_stop(base_url: str, job_id: str, target: str | None, timeout_s: float = 120.0) -> str:
    """Stop ``job_id`` with a savepoint in ``target``; return the savepoint's path."""
    return stop_outcome(request_stop(base_url, job_id, target), timeout_s)


def wait_for_tasks(base_url: str, job_id: str, timeout_s: float = 120.0) -> bool:
    """Wait until every task of ``job_id`` runs: a job is RUNNING while its tasks still deploy,
    and Flink refuses a savepoint until they all run. False when the job ended, or on time-out.
    """
    deadline, said = time.monotonic() + timeout_s, False
    while True:
        response = requests.get(f"{base_url}jobs/overview", timeout=10)
        response.raise_for_status()
        job = next((j for j in response.json()["jobs"] if j["jid"] == job_id), None)
        if job is None or job["state"] not in ACTIVE:
            return False
        tasks = job.get("tasks", {})
        running = tasks.get("running", 0) + tasks.get("finished", 0)
        if job["state"] == "RUNNING" and running >= tasks.get("total", 0):
            return True
        if time.monotonic() >= deadline:
            log.warning("job %s still starts after %.0f s", job_id, timeout_s)
            return False
        if not said:
            log.info(
                "job %s is still starting (%s, %d of %d tasks running): waiting up to %.0f s "
                "before its savepoint",
                job_id,
                job["state"],
                running,
                tasks.get("total", 0),
                timeout_s,
            )
            said = True
        time.sleep(0.5)


def _rest_error(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or [response.text]
    except ValueError:
        errors = [response.text]
    return _first_cause(str(errors[0]))


def _first_cause(trace: str) -> str:
    """The innermost cause of a Java stack trace, in one line."""
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip() and not ln.startswith("\t")]
    causes = [ln.removeprefix("Caused by: ") for ln in lines if ln.startswith("Caused by")]
    return (causes[-1] if causes else lines[0] if lines else "unknown")[:300]


# -- list and cancel --------------------------------------------------------------------


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
    """Stop each job with a savepoint (the next run resumes there); cancel it if Flink cannot."""
    # A local run whose job is not listed yet (its REST API may not answer yet) is stopped
    # as a whole: the job would start a moment later (isspanel.analytics.local).
    starting = None if settings.jobmanager else flink_local.local_run(settings)
    try:
        jobs = rest_jobs(settings)
    except requests.RequestException as exc:
        if starting:
            return flink_local.stop_local_run(settings, starting)
        return _unreachable(settings, exc)
    if not ids:
        ids = [j["jid"] for j in jobs if j["state"] in ACTIVE and j["name"].startswith("isspanel")]
        if not ids and starting:
            return flink_local.stop_local_run(settings, starting)
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
        if not wait_for_tasks(base_url, job_id, READY_TIMEOUT_S) and not _active(settings, job_id):
            log.info("%s has already ended", job_id)
            return 0
        where = rest_stop(base_url, job_id, savepoint_target(settings, name))
        log.info("stopped %s with a savepoint: %s", job_id, where)
        return 0
    except ClusterGone as exc:
        if settings.jobmanager:
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
    rest_cancel(settings, job_id)
    log.info("cancelled %s", job_id)
    return 0


def _active(settings: Settings, job_id: str) -> bool:
    return any(j["jid"] == job_id and j["state"] in ACTIVE for j in rest_jobs(settings))
