"""`isspanel flink run|list|cancel`: the Flink jobs (isspanel.analytics) from the command line."""

from __future__ import annotations

import logging

from isspanel.analytics.jobs import JOBS
from isspanel.cli.flink_jobs import cancel_jobs, list_jobs
from isspanel.cli.flink_run import run
from isspanel.settings import Settings

log = logging.getLogger("isspanel.analytics.runner")  # the name its lines have always had


def flink_command(args, settings: Settings) -> int:
    """`isspanel flink run|list|cancel`: ``args`` has action, jobs and detach."""
    jobs = list(getattr(args, "jobs", None) or [])
    if args.action == "run":
        unknown = [name for name in jobs if name not in JOBS]
        if unknown:
            log.error("unknown job(s) %s; choose from %s", ", ".join(unknown), ", ".join(JOBS))
            return 2
        return run(settings, jobs or None, bool(getattr(args, "detach", False)))
    if args.action == "list":
        return list_jobs(settings)
    if args.action == "cancel":
        return cancel_jobs(settings, jobs)
    raise ValueError(f"unknown action {args.action!r}")
