"""`isspanel flink list|cancel`, and a stop with a savepoint, over Flink's REST API.

A stop takes a savepoint in the job's state folder (isspanel.flink_state), so the next
`isspanel flink run` resumes exactly where the job stopped; jobs that cannot take one (still
starting, or not ours) are cancelled instead.
"""

from __future__ import annotations

import logging
import time

import requests

from isspanel.flink_runner import ACTIVE, rest_address, web_url
from isspanel.flink_state import savepoint_target
from isspanel.settings import Settings

log = logging.getLogger(__name__)


def rest_stop(base_url: str, job_id: str, target: str | None, timeout_s: float = 120.0) -> str:
    """Stop ``job_id`` with a savepoint in ``target`` (a cluster of its own may know none);
    return the savepoint's path. RuntimeError (why) when Flink cannot take it."""
    body: dict = {"drain": False}
    if target:
        body["targetDirectory"] = target
    response = requests.post(f"{base_url}jobs/{job_id}/stop", json=body, timeout=10)
    if response.status_code >= 400:
        raise RuntimeError(f"HTTP {response.status_code}: {_rest_error(response)}")
    request_id = response.json()["request-id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = requests.get(f"{base_url}jobs/{job_id}/savepoints/{request_id}", timeout=10)
        answer.raise_for_status()
        state = answer.json()
        if state.get("status", {}).get("id") == "COMPLETED":
            operation = state.get("operation", {})
            if "location" in operation:
                return operation["location"]
            cause = operation.get("failure-cause", {}).get("stack-trace", "no savepoint taken")
            raise RuntimeError(_first_cause(cause))
        time.sleep(0.5)
    raise RuntimeError(f"no savepoint after {timeout_s:.0f} s")


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
    try:
        jobs = rest_jobs(settings)
    except requests.RequestException as exc:
        return _unreachable(settings, exc)
    if not ids:
        ids = [j["jid"] for j in jobs if j["state"] in ACTIVE and j["name"].startswith("isspanel")]
        if not ids:
            log.info("no running isspanel job at %s", rest_address(settings))
    names = {j["jid"]: j["name"] for j in jobs}
    failed = 0
    for job_id in ids:
        try:
            try:
                target = savepoint_target(settings, names.get(job_id, ""))
                where = rest_stop(web_url(settings), job_id, target)
                log.info("stopped %s with a savepoint: %s", job_id, where)
                continue
            except (RuntimeError, requests.HTTPError, KeyError, ValueError) as exc:
                log.warning("no savepoint of %s (%s): cancelling it", job_id, exc)
            rest_cancel(settings, job_id)
            log.info("cancelled %s", job_id)
        except requests.RequestException as exc:
            log.error("could not cancel %s: %s", job_id, exc)
            failed += 1
    return 1 if failed else 0
