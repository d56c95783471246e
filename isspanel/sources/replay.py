"""The replay source: recorded JSONL records, at real time or N times faster."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from isspanel.messages import skip_reason
from isspanel.record import IssRecord, from_flat
from isspanel.settings import Settings

log = logging.getLogger(__name__)


def read_jsonl(path: Path, max_age_s: int = 10**10) -> Iterator[IssRecord]:
    """Valid records of a JSONL file; a bad line is logged with its number and skipped."""
    # Bytes, not text: a line of invalid UTF-8 is one bad line, not the end of the file.
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = from_flat(line, max_age_s=max_age_s)
            except Exception as exc:  # any line: skipped, never the replay's end
                log.warning("%s:%d skipped: %s", path, number, skip_reason(exc))
                continue
            yield IssRecord(record.timestamp, record.latitude, record.longitude, "replay")


class ReplaySource:
    name = "replay"

    def __init__(self, settings: Settings, path: Path | None = None):
        path = path or settings.producer.replay_file
        if path is None:
            raise ValueError("replay needs a file: --replay-file or ISS_PRODUCER_REPLAY_FILE")
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"replay file {self.path} does not exist")
        self._records = self.records()
        log.info("replaying %s", self.path)

    def records(self) -> Iterator[IssRecord]:
        # Recorded files may be old: only the future is refused here.
        return read_jsonl(self.path)

    def fetch(self) -> IssRecord:
        try:
            return next(self._records)
        except StopIteration:
            raise EOFError(f"{self.path} is exhausted") from None

    def paced(self, speed: float) -> Iterator[IssRecord]:
        """Records spaced by their own timestamps divided by ``speed`` (0: no waiting)."""
        previous = None
        started = time.monotonic()
        first_ts = None
        for record in self.records():
            if speed > 0 and previous is not None:
                due = started + (record.timestamp - first_ts) / speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if first_ts is None:
                first_ts = record.timestamp
            previous = record
            yield record

    def close(self) -> None:
        pass
