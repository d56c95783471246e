"""The producer's outbox on disk: accepted records survive a crash until the broker acks them.

``ISS_HOME/spool/<topic>.jsonl`` holds one record per line, appended (and fsync'd) before the
record is handed to Kafka. It is emptied when nothing is pending any more, compacted when most
of it is acknowledged, and replayed at the next start. A replay may publish a record the broker
had already taken (its ack was lost with the process): readers key on ``timestamp``.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from isspanel.messages import skip_reason
from isspanel.record import IssRecord, from_flat

log = logging.getLogger(__name__)


class Spool:
    """Append-only file of accepted, not yet acknowledged records, locked to one producer."""

    def __init__(self, path: Path, lock_fd: int):
        self.path = path
        self._lock_fd = lock_fd
        self._file = open(path, "ab")  # noqa: SIM115 - lives as long as the spool
        self.lines = 0  # lines in the file now

    @classmethod
    def open(cls, home: Path, topic: str) -> Spool | None:
        """The topic's spool, or None (said in the log) when another producer holds it."""
        folder = Path(home) / "spool"
        folder.mkdir(parents=True, exist_ok=True)
        # A lock file apart from the spool, which compaction replaces by rename.
        lock_fd = os.open(folder / f"{topic}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            log.warning(
                "%s is held by another producer: this one keeps its outbox in memory only",
                folder / f"{topic}.jsonl",
            )
            return None
        return cls(folder / f"{topic}.jsonl", lock_fd)

    def load(self) -> list[IssRecord]:
        """Records left by the last run; a torn or corrupt line is skipped with a warning."""
        data = self.path.read_bytes()
        records: list[IssRecord] = []
        lines = data.split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if number == len(lines):  # no newline after it: the write was cut short
                log.warning("%s:%d skipped: torn last line (a crash mid-write)", self.path, number)
                continue
            try:
                # Validated when accepted; here only the shape is checked, not the age.
                records.append(from_flat(line, max_age_s=10**10, max_skew_s=10**10))
            except Exception as exc:  # any line: skipped, never the producer's end
                log.warning("%s:%d skipped: %s", self.path, number, skip_reason(exc))
        # Start clean: a torn line must not glue itself to the next append.
        self.rewrite([r.to_json() for r in records])
        return records

    def append(self, payloads: list[bytes]) -> None:
        """Write the records and make them durable before they go to Kafka."""
        self._file.write(b"".join(p + b"\n" for p in payloads))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.lines += len(payloads)

    def clear(self) -> None:
        """Everything is acknowledged. Not fsync'd: if it comes back, it is a replay."""
        self._file.truncate(0)
        self.lines = 0

    def rewrite(self, payloads: list[bytes]) -> None:
        """Keep only ``payloads``: written aside, fsync'd, then renamed over the spool."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(b"".join(p + b"\n" for p in payloads))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._file.close()
        self._file = open(self.path, "ab")  # noqa: SIM115
        self.lines = len(payloads)

    def close(self, remove: bool) -> None:
        """Release the spool; ``remove`` when nothing in it is pending."""
        self._file.close()
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._lock_fd)  # closing the descriptor releases the lock


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
