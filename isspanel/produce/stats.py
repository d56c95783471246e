"""What the producer counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ProducerStats:
    ticks: int = 0
    skipped: int = 0  # ticks that came while a fetch was still running
    fetch_errors: int = 0  # network, HTTP status, timeout, deadline
    rejected: int = 0  # answers that failed validation: never published
    accepted: int = 0  # records handed to the publisher: these must all be delivered
    delivered: int = 0  # acknowledged by the broker (acks=all)
    failed: int = 0  # delivery attempts that failed and were queued again
    replayed: int = 0  # records left in the spool by the last run, sent again
    duplicates: int = 0  # records whose timestamp was already published: skipped
    stale: int = 0  # older than the newest published, or a repeated live answer: skipped
