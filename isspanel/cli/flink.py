"""`isspanel flink run|list|cancel`: the Flink jobs (isspanel.analytics) from the command line."""

from __future__ import annotations

import logging

from isspanel.analytics import rest as flink_rest
from isspanel.analytics import runner
from isspanel.analytics.run import run
from isspanel.settings import Settings

log = logging.getLogger("isspanel.analytics.runner")


def flink_command(args, settings: Settings) -> int:
    """`isspanel flink run|list|cancel`: ``args`` has action, jobs and detach."""
    jobs = list(getattr(args, "jobs", None) or [])
    if args.action == "run":
        unknown = [name for name in jobs if name not in runner.JOBS]
        if unknown:
            log.error(
                "unknown job(s) %s; choose from %s", ", ".join(unknown), ", ".join(runner.JOBS)
            )
            return 2
        return run(settings, jobs or None, bool(getattr(args, "detach", False)))
    if args.action == "list":
        return flink_rest.list_jobs(settings)
    if args.action == "cancel":
        return flink_rest.cancel_jobs(settings, jobs)
    raise ValueError(f"unknown action {args.action!r}")
