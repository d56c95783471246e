"""The producer's own account of a broker outage, in place of kafka-python's per-attempt noise."""

from __future__ import annotations

import logging

log = logging.getLogger("isspanel.produce.producer")

REPORT_EVERY_S = 60.0  # while the broker stays away, one line a minute


class Outage:
    """Our own account of a broker outage: a line when it starts, one a minute, one at the end."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.every_s = REPORT_EVERY_S
        self.since: float | None = None  # monotonic start of the current outage
        self.back_from: int | None = None  # records before this id were held up
        self._reported_at = 0.0
        self._delivered = 0

    def start(self, now: float, reason: str, pending: int, delivered: int) -> None:
        self.since, self._reported_at, self._delivered = now, now, delivered
        self.back_from = None
        log.warning(
            "Kafka at %s unreachable (%s): %d record(s) held, retrying",
            self.bootstrap,
            reason,
            pending,
        )

    def remind(self, now: float, pending: int) -> None:
        if now - self._reported_at >= self.every_s:
            self._reported_at = now
            log.warning(
                "Kafka at %s still unreachable after %.0f s: %d record(s) held, retrying",
                self.bootstrap,
                now - self.since,
                pending,
            )

    def end(self, now: float, delivered: int) -> None:
        log.info(
            "Kafka at %s is back after %.0f s: %d record(s) delivered late",
            self.bootstrap,
            now - self.since,
            delivered - self._delivered,
        )
        self.since = self.back_from = None
