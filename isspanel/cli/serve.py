"""`panel serve isspanel` as a command line: used by `isspanel dashboard`, `up` and the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import isspanel


def serve_command(port: int, address: str = "127.0.0.1", *extra: str) -> list[str]:
    """`panel serve isspanel` as a subprocess command line."""
    app = str(Path(isspanel.__file__).parent)  # the package is the Bokeh directory app
    # --liveness: Panel's /liveness answers once the server serves, without building a page
    # (a GET of the page makes a session that Bokeh then discards); compose checks it too.
    return [sys.executable, "-m", "panel", "serve", app, "--port", str(port), "--address", address,
            "--liveness", *extra]  # fmt: skip
