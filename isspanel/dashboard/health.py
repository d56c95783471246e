"""The health of the server's links (Kafka, the consumer itself) and the status it shows."""

from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass, field, replace

from isspanel.pipeline_state import ChildState

SOURCE_NAMES = {"open-notify": "live API", "sgp4": "SGP4 model (offline)", "replay": "replay"}
STALE_S = 150  # a record older than this, at one a minute, means the producer is stuck


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


def text(value: str) -> str:
    """Outside text as HTML: escaped, and without the TeX delimiters ($, backslash) that a
    Bokeh Div (the status is Panel's StaticText) would typeset once MathJax is loaded."""
    return html.escape(value).replace("$", "&#36;").replace("\\", "&#92;")


def _dot(state: str) -> str:
    return f'<span class="dot {state}"></span>'


def status_html(health: Health, bootstrap: str, now: float | None = None) -> str:
    """The status line; made once per health change and shared by every session."""
    now = time.time() if now is None else now
    if health.stalled_s is not None:
        kafka = (
            f"{_dot('bad')}Server ↔ Kafka: not connected: the dashboard's consumer has stalled "
            f"(no poll for {health.stalled_s} s"
            + (f"; {text(health.kafka_error)}" if health.kafka_error else "")
            + "); see the server log"
        )
    elif health.kafka_connected:
        lag = "?" if health.lag is None else f"{health.lag}"
        kafka = f"{_dot('ok')}Server ↔ Kafka: connected to {text(bootstrap)}, consumer lag {lag}"
    else:
        kafka = (
            f"{_dot('bad')}Server ↔ Kafka: not connected to {text(bootstrap)} "
            f"({text(health.kafka_error or 'unknown')}); retrying — check "
            "<code>isspanel kafka status</code>"
        )
    if health.last_record_at is None:
        last = f"{_dot('wait')}No record yet"
    else:
        age = max(0.0, now - health.last_record_at)
        state = "ok" if age < STALE_S else "wait"
        # The browser keeps the age ticking from data-at (link.js).
        last = (
            f'{_dot(state)}Last record <span class="age" data-at="{health.last_record_at:.3f}" '
            f'data-stale="{STALE_S}">{age:.0f}</span> s ago'
        )
    source = SOURCE_NAMES.get(health.last_source or "", "—")
    if health.model_km is not None:
        source += (
            ' <span class="model-km">(live vs model: '
            f'<span class="km">{health.model_km:,.1f}</span> km)</span>'
        )
    repeats = f", {health.duplicates} repeat(s) ignored" if health.duplicates else ""
    return (
        f'<div class="status"><span class="kafka-status">{kafka}</span>'
        f'<span class="last-record">{last}</span>'
        f'<span class="record-count"><span class="n">{health.records}</span> records</span>'
        f'<span class="source">Source: {source}</span>'
        f"{_tle(health)}{_feed(health)}{_pipeline(health)}"
        f'<span class="skipped">{health.skipped} bad message(s) skipped{repeats}</span>'
        f'<span class="sessions">{health.sessions} session(s)</span>'
        f'<span class="server-pid">server pid {os.getpid()}</span></div>'
    )


def _tle(health: Health) -> str:
    if health.tle_age_days is None:
        return '<span class="tle">TLE: none</span>'
    age = health.tle_age_days
    text = f"TLE {age:.1f} days old" if age < 10 else f"TLE {age:.0f} days old"
    if not health.tle_old:
        return f'<span class="tle">{text}</span>'
    why = "SGP4 positions drift by kilometres a day: isspanel tle refresh"
    return f'<span class="tle warn" title="{why}">{_dot("wait")}{text}</span>'


def _feed(health: Health) -> str:
    if health.feed_frozen_at is None:
        return ""
    since = time.strftime("%H:%M:%S", time.gmtime(health.feed_frozen_at))
    stand_in = ", SGP4 stands in" if health.last_source == "sgp4" else ""
    text = f"Live feed frozen since {since} UTC{stand_in}"
    return f'<span class="feed warn">{_dot("bad")}{text}</span>'


def _pipeline(health: Health) -> str:
    """What `isspanel up` says of a child that is not running (nothing when all run)."""
    down = [c for c in health.pipeline if c.state != "running"]
    if not down:
        return ""
    said = "; ".join(f"{text(c.name)} {text(c.state)} ({text(c.detail)})" for c in down)
    return f'<span class="pipeline warn">{_dot("bad")}isspanel up: {said}</span>'
