"""The `isspanel` command: its subcommands (main.py), `up`, which runs the parts together
(up.py, supervisor.py), `panel serve` for the dashboard (serve.py), `flink` (flink.py: `run` in
flink_run.py, `list` and `cancel` in flink_jobs.py) and `passes` (passes.py). The commands'
exit codes are decided here, not in the parts.

Imports point one way: cli -> the parts (broker, produce, analytics, dashboard, sources)
-> geo, record, settings, processes. Nothing outside cli imports it.
"""

from isspanel.cli.main import main

__all__ = ["main"]
