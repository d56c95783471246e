"""Every piece of HTML the dashboard makes from data: the status line (live, at a moment,
loading one) and time travel's banner, with the one escaping helper for outside text.

Made on the consumer thread or a reader's, once per change, and shared by the sessions.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Iterable

from isspanel.dashboard.health import Health

SOURCE_NAMES = {"open-notify": "live API", "sgp4": "SGP4 model (offline)", "replay": "replay"}
STALE_S = 150  # a record older than this, at one a minute, means the producer is stuck


def escape(value: str) -> str:
    """Outside text as HTML: escaped, and without the TeX delimiters ($, backslash) that a
    Bokeh Div (the status is Panel's StaticText) or a Markdown pane (the banner) would
    typeset once MathJax is loaded."""
    return html.escape(value).replace("$", "&#36;").replace("\\", "&#92;")


def _dot(state: str) -> str:
    return f'<span class="dot {state}"></span>'


def status_html(health: Health, bootstrap: str, now: float | None = None) -> str:
    """The live status line; made once per health change and shared by every session."""
    now = time.time() if now is None else now
    if health.stalled_s is not None:
        kafka = (
            f"{_dot('bad')}Server ↔ Kafka: not connected: the dashboard's consumer has stalled "
            f"(no poll for {health.stalled_s} s"
            + (f"; {escape(health.kafka_error)}" if health.kafka_error else "")
            + "); see the server log"
        )
    elif health.kafka_connected:
        lag = "?" if health.lag is None else f"{health.lag}"
        kafka = f"{_dot('ok')}Server ↔ Kafka: connected to {escape(bootstrap)}, consumer lag {lag}"
    else:
        kafka = (
            f"{_dot('bad')}Server ↔ Kafka: not connected to {escape(bootstrap)} "
            f"({escape(health.kafka_error or 'unknown')}); retrying — check "
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
    said = "; ".join(f"{escape(c.name)} {escape(c.state)} ({escape(c.detail)})" for c in down)
    return f'<span class="pipeline warn">{_dot("bad")}isspanel up: {said}</span>'


def moment_status_html(
    moment_text: str, health: Health, notes: tuple[str, ...], fetched: int
) -> str:
    """The status line of a page at a moment: what it shows, never the live link."""
    repeats = f", {health.duplicates} repeat(s) ignored" if health.duplicates else ""
    note = "".join(f'<span class="history-note">{escape(n)}</span>' for n in notes)
    return (
        '<div class="status"><span class="time-travel">'
        f"{_dot('wait')}Not live — showing {escape(moment_text)}</span>"
        f'<span class="record-count">{health.records} records</span>'
        f'<span class="skipped">{health.skipped} bad message(s) skipped{repeats}</span>'
        f'<span class="fetched">{fetched:,} message(s) read from Kafka</span>{note}</div>'
    )


def loading_status_html(moment_text: str) -> str:
    """The status line of a page while its moment is read."""
    return (
        f'<div class="status"><span class="time-travel">Loading {escape(moment_text)}…</span></div>'
    )


def banner_html(line: str, notes: Iterable[str] = (), bold: bool = False) -> str:
    """Time travel's banner: a line of plain text (in bold if asked), then a line per note."""
    first = f"<b>{escape(line)}</b>" if bold else escape(line)
    return first + "".join(f"<br>{escape(note)}" for note in notes)
