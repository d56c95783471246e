"""The `isspanel` command: its subcommands (main.py), `up`, which runs the parts together
(up.py), `panel serve` for the dashboard (serve.py) and `passes` (passes.py).

Imports point one way: cli -> the parts (broker, produce, analytics, dashboard, sources)
-> geo, record, settings. Nothing outside cli imports it.
"""

from isspanel.cli.main import main

__all__ = ["main"]
