"""A Flink cluster's jobs, from outside: listed, cancelled, stopped with a savepoint (REST API);
and the local run, whose mini-cluster is not listed yet while it starts.

A stop takes a savepoint in the job's state folder (isspanel.analytics.savepoints), so the next
`isspanel flink run` resumes exactly where the job stopped. A stop whose local run exits (REST
API and all) before the answer is heard is judged by the savepoint folder.

A local mini-cluster lives inside its `isspanel flink run` process. Until its REST API answers
and lists the job (about 25 s, up to two minutes on a loaded machine), `flink cancel` cannot
reach the job through REST, and "nothing runs" would be wrong: the job starts a moment later.
So a run leaves a marker while it lives, ISS_HOME/flink/run-<REST port>.pid, and `flink cancel`
sends that run SIGTERM, as Ctrl-C would: it stops at its next step (before submitting, or its
job with a savepoint) and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import requests

from isspanel.analytics.environment import root_cause, web_url
from isspanel.analytics.jobs import ACTIVE
from isspanel.processes import alive, command_line
from isspanel.settings import Settings

# The names their lines have always had: the REST API's, and the local run's.
log = logging.getLogger("isspanel.analytics.rest")
local_log = logging.getLogger("isspanel.analytics.local")

# -- the jobs it knows ------------------------------------------------------------------------


def rest_jobs(settings: Settings, timeout_s: float = 5.0) -> list[dict]:
    """Jobs known to the JobManager, newest first."""
    response = requests.get(f"{web_url(settings)}jobs/overview", timeout=timeout_s)
    response.raise_for_status()
    return sorted(response.json()["jobs"], key=lambda j: j["start-time"], reverse=True)


def ours_active(jobs: list[dict]) -> list[dict]:
    """The isspanel jobs among ``jobs`` (of rest_jobs) that are active."""
    return [j for j in jobs if j["state"] in ACTIVE and j["name"].startswith("isspanel")]


def already_running(settings: Settings) -> list[dict]:
    """isspanel jobs active on the cluster at ISS_FLINK_JOBMANAGER (none if it does not say)."""
    try:
        return ours_active(rest_jobs(settings))
    except (requests.RequestException, KeyError, ValueError):
        return []  # the submission says what is wrong


def is_active(settings: Settings, job_id: str) -> bool:
    return any(j["jid"] == job_id and j["state"] in ACTIVE for j in rest_jobs(settings))


def rest_cancel(settings: Settings, job_id: str, timeout_s: float = 10.0) -> None:
    response = requests.patch(
        f"{web_url(settings)}jobs/{job_id}", params={"mode": "cancel"}, timeout=timeout_s
    )
    response.raise_for_status()


# -- stop with a savepoint --------------------------------------------------------------------


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
            raise RuntimeError(root_cause(cause))
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
    return root_cause(str(errors[0]))


# -- the local run ----------------------------------------------------------------------------


# A run finishes the step under way first (the JVM start or the submission: up to ~2 min
# under load), then stops its job with a savepoint (up to a minute).
STOP_WAIT_S = 240.0


def marker_path(settings: Settings) -> Path:
    return settings.home / "flink" / f"run-{settings.flink.rest_port}.pid"


@contextmanager
def run_marker(settings: Settings) -> Iterator[None]:
    """Mark this process as the local run on the settings' REST port while it runs (unless
    another one lives: this one will fail to bind the port)."""
    if local_run(settings) is not None:
        yield
        return
    path = marker_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))
    try:
        yield
    finally:
        try:
            if path.read_text() == str(os.getpid()):
                path.unlink()
        except OSError:
            pass


def _is_run(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) `isspanel flink run`: a pid may be reused."""
    words = command_line(pid)
    return words is not None and alive(pid) and b"flink" in words and b"run" in words


def local_run(settings: Settings) -> int | None:
    """The pid of the local run on the settings' REST port, if one lives."""
    try:
        pid = int(marker_path(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() and _is_run(pid) else None


def stop_local_run(settings: Settings, pid: int, timeout_s: float = STOP_WAIT_S) -> bool:
    """SIGTERM to the local run ``pid`` whose job is not listed yet; wait for it to exit.
    False when it still runs after ``timeout_s``."""
    local_log.info(
        "`isspanel flink run` (pid %d) is still starting its job on port %d: stopping it with "
        "SIGTERM, as Ctrl-C there would (waiting up to %.0f s)",
        pid,
        settings.flink.rest_port,
        timeout_s,
    )
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while _is_run(pid):
        if time.monotonic() >= deadline:
            local_log.error("`isspanel flink run` (pid %d) still runs after %.0f s", pid, timeout_s)
            return False
        time.sleep(0.2)
    local_log.info("`isspanel flink run` (pid %d) has stopped", pid)
    return True
