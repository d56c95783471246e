"""Where `isspanel flink run` keeps its checkpoints and savepoints, and which one a run resumes.

Exactly once across restarts needs the source offsets, the open windows and each track's last
position (the OVER operator's LAG) of the last run: a checkpoint or savepoint holds all three,
and the Kafka sinks' transactions commit with it (flink/10_speed.sql). A snapshot only fits the
plan that wrote it, so each plan has a folder of its own, named by a hash of its statements
(flink/*.sql as the settings rewrite them, without comments and SETs):

    <state>/<flink group>/<plan hash>/checkpoints/<job id>/chk-<n>/_metadata
    <state>/<flink group>/<plan hash>/savepoints/savepoint-<...>/_metadata

<state> is ISS_FLINK_STATE_DIR, by default ISS_HOME/flink/state for the local mini-cluster. A
cluster of its own (ISS_FLINK_JOBMANAGER) writes there only if told to, since its JobManager and
TaskManagers must reach the folder: without one its checkpoints stay in the JobManager's memory.
A run restores the newest snapshot of its plan's folder, then deletes the older ones. With none
(the first run; changed SQL, jobs, topics or window; no folder), the source starts at the
offsets the group committed at its last checkpoint (the earliest offsets the first time).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from isspanel.analytics.jobs import JOBS, job_statements
from isspanel.analytics.sql import statement_kind
from isspanel.settings import Settings

log = logging.getLogger("isspanel.analytics.state")  # the name its lines have always had


def plan_hash(statements: Iterable[str]) -> str:
    """A short hash of the statements that shape the job (SETs do not)."""
    text = "\n;\n".join(s for s in statements if statement_kind(s) != "SET")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state_root(settings: Settings) -> Path | None:
    if settings.flink.state_dir:
        return Path(settings.flink.state_dir).expanduser().absolute()
    return None if settings.flink.jobmanager else settings.home / "flink" / "state"


def state_dir(settings: Settings, statements: Iterable[str]) -> Path | None:
    root = state_root(settings)
    if root is None:
        return None
    group = re.sub(r"[^A-Za-z0-9._-]", "_", settings.flink.group)
    return root / group / plan_hash(statements)


def snapshots(folder: Path) -> list[Path]:
    """Complete checkpoints and savepoints in ``folder``, oldest first (a `_metadata` file is
    written last: a snapshot cut short by a kill has none)."""
    found = [
        *folder.glob("checkpoints/*/chk-*/_metadata"),
        *folder.glob("savepoints/*/_metadata"),
    ]
    dated = []
    for path in found:
        try:
            dated.append((path.stat().st_mtime, path.parent))
        except OSError:
            continue  # deleted meanwhile
    return [p for _mtime, p in sorted(dated)]


def latest_snapshot(folder: Path) -> Path | None:
    found = snapshots(folder)
    return found[-1] if found else None


def prune(folder: Path, keep: Path | None) -> None:
    """Delete every snapshot folder but ``keep``: a run needs only the one it restored from."""
    keep_dirs = set()
    if keep is not None:
        keep_dirs = {keep, keep.parent}  # chk-<n> lives in the job's folder with its shared state
    for kind in ("checkpoints", "savepoints"):
        for path in sorted((folder / kind).glob("*")):
            if path.is_dir() and path not in keep_dirs:
                shutil.rmtree(path, ignore_errors=True)


def state_config(folder: Path, restore: Path | None) -> dict[str, str]:
    """Flink options: checkpoints and savepoints in ``folder``, kept on cancel; restore."""
    config = {
        "execution.checkpointing.dir": folder.joinpath("checkpoints").as_uri(),
        "execution.checkpointing.savepoint-dir": folder.joinpath("savepoints").as_uri(),
        # Kept when the job is cancelled or its JVM stops: the next run resumes there.
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": "1",
    }
    if restore is not None:
        config["execution.state-recovery.path"] = restore.as_uri()
    return config


def prepare(settings: Settings, statements: list[str]) -> dict[str, str]:
    """The state options of a run of ``statements``; says what it resumes from."""
    folder = state_dir(settings, statements)
    if folder is None:
        log.info(
            "no ISS_FLINK_STATE_DIR for the cluster at %s: its checkpoints stay in the "
            "JobManager's memory, and a new submission resumes at the offsets group %s "
            "committed, without the open windows",
            settings.flink.jobmanager,
            settings.flink.group,
        )
        return {}
    restore = latest_snapshot(folder)
    prune(folder, restore)
    folder.mkdir(parents=True, exist_ok=True)
    if restore is not None:
        log.info("resuming from %s (offsets, open windows, last position)", restore)
    else:
        log.info(
            "no checkpoint or savepoint of these jobs in %s (first run, or the SQL, jobs or "
            "settings changed): reading %s from the offsets group %s committed last "
            "(the earliest the first time)",
            folder,
            settings.topics.location,
            settings.flink.group,
        )
    return state_config(folder, restore)


def savepoint_target(settings: Settings, job_name: str) -> str | None:
    """The savepoint folder of a job `isspanel flink run` named ``job_name`` with ``settings``
    ("isspanel: speed+stats+crossings"), or None for any other job."""
    jobs = job_name.removeprefix("isspanel: ").split("+")
    if not job_name.startswith("isspanel: ") or not set(jobs) <= set(JOBS):
        return None
    folder = state_dir(settings, job_statements(settings, jobs))
    return None if folder is None else folder.joinpath("savepoints").as_uri()
