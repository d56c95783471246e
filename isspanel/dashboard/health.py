"""The health of the server's links (Kafka, the consumer itself); ``status.py`` says it in HTML."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from isspanel.pipeline_state import ChildState


@dataclass(frozen=True)
class Health:
    """One immutable reading of the hub's health; the hub replaces it, never edits it."""

    kafka_connected: bool = False
    kafka_error: str = "connecting…"
    lag: int | None = None
    records: int = 0
    skipped: int = 0
    last_record_at: float | None = None  # wall time the last valid position arrived
    last_source: str | None = None
    sessions: int = 0
    assigned: tuple[str, ...] = field(default_factory=tuple)
    stalled_s: int | None = None  # whole seconds since the poll loop's last pass, once stalled
    duplicates: int = 0  # positions whose timestamp was already shown: ignored
    model_km: float | None = None  # the last record's live-vs-model distance, if it had one
    feed_frozen_at: float | None = None  # event time of a feed-frozen event not yet over
    tle_age_days: float | None = None  # of the TLE in use, checked hourly
    tle_old: bool = False  # past ISS_TLE_MAX_AGE_DAYS
    # The children of the `isspanel up` this server runs under, if any (pipeline_state.py).
    pipeline: tuple[ChildState, ...] = ()


def status_key(health: Health) -> Health:
    """What the status line says, less the figures each position brings with it (count,
    arrival, live vs model: the page takes those from the positions stream). Equal keys,
    same status."""
    return replace(
        health,
        records=0,
        last_record_at=None if health.last_record_at is None else 0.0,
        model_km=None if health.model_km is None else 0.0,
    )


def describe(exc: BaseException) -> str:
    """An exception in one line with its class named once (kafka-python's str() has it)."""
    text = str(exc)
    name = exc.__class__.__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name
