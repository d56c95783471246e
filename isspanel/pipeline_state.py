"""What `isspanel up` tells the dashboard about its children: a small JSON file it rewrites
(atomically) whenever a child starts, dies or is about to be restarted.

    ISS_HOME/up/state.json   {"pid": <up's pid>, "children": {"producer": {"state": ..., ...}}}

The dashboard reads it with its health checks; a file whose writer is gone says nothing
(a stale file must never show a child as restarting, nor as running).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from isspanel.processes import alive

STATES = ("running", "restarting", "failed", "stopped")
MAX_BYTES = 64 * 1024  # ours is under 1 kB: a bigger file is not ours


@dataclass(frozen=True)
class ChildState:
    name: str
    state: str  # one of STATES
    detail: str = ""  # e.g. "exited with SIGKILL; restart 2 in 2 s"


def state_path(home: Path) -> Path:
    return Path(home) / "up" / "state.json"


def write(home: Path, children: dict[str, dict]) -> None:
    """Replace the file at once (write, then rename): a reader sees the old or the new."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"pid": os.getpid(), "children": children}).encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(home: Path) -> None:
    state_path(home).unlink(missing_ok=True)


def read(home: Path) -> tuple[ChildState, ...]:
    """The children of a running `isspanel up` (empty without one); never raises."""
    try:
        with open(state_path(home), "rb") as f:
            data = json.loads(f.read(MAX_BYTES + 1)[:MAX_BYTES])
        pid = data["pid"]
        if not isinstance(pid, int) or isinstance(pid, bool) or not alive(pid):
            return ()
        children = data["children"]
        return tuple(
            ChildState(str(name)[:40], str(c["state"]), str(c.get("detail", ""))[:200])
            for name, c in sorted(children.items())
            if isinstance(c, dict) and c.get("state") in STATES
        )
    except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError):
        return ()
