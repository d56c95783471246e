"""Time travel on the page: ``?at=`` or the slider puts one session at a moment; "Live" returns.

Only that session changes: its page stops showing the hub's snapshots and shows the snapshot
of its moment (``DashboardPage.show``), read by one short-lived, bounded reader
(``history.moment_at``) on a worker thread, never on the server's event loop; its answer
comes back by the session's one way in (``session.py``). The live hub and every other page
go on as before.
"""

from __future__ import annotations

import logging
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial

import panel as pn
from bokeh.models import CustomJSTickFormatter

from isspanel.broker import HistoryError, retained_range
from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.history import Moment, moment_at
from isspanel.dashboard.page import DashboardPage
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.static_files import static_text
from isspanel.dashboard.status import banner_html, loading_status_html

log = logging.getLogger(__name__)

# Readers at once per server process: more pages at a moment wait their turn.
READERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="isspanel-time-travel")
EXAMPLE = "2026-11-27T01:00:00Z"


def parse_at(text: str) -> datetime:
    """An ISO 8601 time from the URL, in UTC (a time without a zone is UTC); ValueError says
    what is wrong in one line."""
    shown = text[:40] + ("…" if len(text) > 40 else "")
    if not text.strip() or len(text) > 40:
        raise ValueError(f"?at={shown!r} is not a time: give one like {EXAMPLE}")
    try:
        at = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise ValueError(f"?at={shown!r} is not a time: give one like {EXAMPLE}") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TimeTravel(pn.viewable.Viewer):
    """The time-travel controls of one session's page: banner, slider, "Live"."""

    def __init__(self, page: DashboardPage, context: SessionContext, **params):
        super().__init__(**params)
        self.page, self.context = page, context
        self.settings = page.hub.settings
        self._request = 0  # the newest moment asked: older answers are dropped
        self.banner = pn.pane.Alert("", alert_type="warning", visible=False, margin=(0, 10))
        self.live = pn.widgets.Button(label="Live", color="primary", visible=False)
        self.travel = pn.widgets.Button(label="Time travel…", color="light")
        self.slider: pn.widgets.IntSlider | None = None  # minutes since _t0
        self._t0 = datetime.now(UTC)  # the oldest position retained, once the slider opens
        self._at: datetime | None = None  # the moment shown; None: live
        self.controls = pn.Row(self.travel, self.live, sizing_mode="stretch_width")
        self._layout = pn.Column(self.banner, self.controls, sizing_mode="stretch_width")
        self.live.on_click(lambda _event: self.go_live())
        self.travel.on_click(lambda _event: self._open_slider())
        at = context.arg("at")  # "" too is a moment asked, and said to be no time
        if at is not None and self.go_text(at):
            self._open_slider()  # the slider too, at the moment

    def __panel__(self):
        return self._layout

    # -- on the session's event loop ------------------------------------------------
    def go_text(self, text: str) -> bool:
        """Go to the moment ``text`` names; a bad one is said on the page, which stays live."""
        try:
            at = parse_at(text)
        except ValueError as exc:
            self._say(f"{exc}. Showing live.", "danger")
            return False
        self.go(at)
        return True

    def go(self, at: datetime) -> None:
        """Show ``at``: at once "loading", then the moment when its reader has read it."""
        self._request += 1
        label = f"{at:%Y-%m-%d %H:%M:%S} UTC"
        self.page.show(snap.Snapshot(version=0, status=loading_status_html(label)))
        self._say(f"Not live — loading {label}…", "warning")
        self.live.visible = True
        self._set_query(_iso(at))
        READERS.submit(self._read, self._request, at)

    def go_live(self) -> None:
        self._request += 1  # a moment still being read is not shown
        self.page.show(None)
        self._at = None
        self.banner.visible = self.live.visible = False
        self.banner.object = ""
        self._set_query(None)

    def _say(self, text: str, kind: str, notes: tuple[str, ...] = (), bold: bool = False) -> None:
        """Say ``text`` (plain text, then a line per note) in the banner."""
        self.banner.object = banner_html(text, notes, bold)
        self.banner.alert_type = kind
        self.banner.visible = True

    def _set_query(self, at: str | None) -> None:
        """Keep ``?at=`` in the address bar (a reload or a shared link shows the same)."""
        location = self.context.location
        if location is None:
            return
        query = dict(urllib.parse.parse_qsl(location.search.lstrip("?")))
        query.pop("at", None)
        if at is not None:
            query["at"] = at
        search = urllib.parse.urlencode(query, safe=":")
        location.search = f"?{search}" if search else ""

    def _arrived(self, request: int, moment: Moment | None, error: str) -> None:
        if request != self._request:
            return
        if moment is None:
            self._say(f"Could not read that moment: {error}", "danger")
            return
        if moment.live:  # a moment in the future: now is as far as Kafka goes
            self.go_live()
            self._say("That moment lies in the future: showing live.", "info")
            return
        self.page.show(moment.snapshot)
        self._at = moment.at
        self._say(f"Not live — showing {moment.label}", "warning", moment.notes, bold=True)
        if self.slider is not None and moment.at >= self._t0:
            self.slider.value = min(
                self.slider.end, int((moment.at - self._t0).total_seconds() // 60)
            )

    def _open_slider(self) -> None:
        self.travel.disabled = True
        READERS.submit(self._read_range)

    def _range_arrived(self, bounds: tuple[datetime, datetime] | None, error: str) -> None:
        self.travel.disabled = False
        if bounds is None:
            self._say(f"Nothing to travel to: {error or 'no position retained'}", "info")
            return
        # Minutes from the oldest position retained: Panel 1.9.4's DatetimeSlider sends its
        # start and end to the browser as dates (midnight), so the slider counts minutes and
        # shows them as times.
        self._t0, minutes = bounds[0], int((bounds[1] - bounds[0]).total_seconds() // 60)
        at = minutes if self._at is None else (self._at - self._t0).total_seconds() // 60
        # The slider's value (minutes since t0, epoch ms) as the time it stands for.
        label = CustomJSTickFormatter(
            args={"t0": self._t0.timestamp() * 1000}, code=static_text("time_label.js")
        )
        if self.slider is None:
            self.slider = pn.widgets.IntSlider(
                label="Moment (UTC)",
                start=0,
                end=max(1, minutes),
                format=label,
                value=int(min(max(at, 0), minutes)),
                sizing_mode="stretch_width",
            )
            self.slider.param.watch(self._slid, "value_throttled")
            self.controls.insert(1, self.slider)
        else:
            self.slider.param.update(end=max(1, minutes), format=label)
        self.travel.visible = False

    def _slid(self, event) -> None:
        if event.new is not None:
            self.go(self._t0 + timedelta(minutes=event.new))

    # -- on a reader thread: the only way back is the session's post --------------------
    def _read(self, request: int, at: datetime) -> None:
        if request != self._request or not self.context.alive:
            return  # asked for another moment meanwhile: skip the read
        moment, error = None, ""
        try:
            moment = moment_at(self.settings, at)
        except (HistoryError, ValueError) as exc:
            error = str(exc)
        except Exception as exc:  # a page must not break on a failed read
            log.exception("time travel to %s failed", at.isoformat())
            error = f"{type(exc).__name__}: {exc}"
        self._back(partial(self._arrived, request, moment, error))

    def _read_range(self) -> None:
        if not self.context.alive:
            return  # the page went away while this waited for a reader: nobody to show it to
        bounds, error = None, ""
        try:
            bounds = retained_range(self.settings, self.settings.topics.location)
        except HistoryError as exc:
            error = str(exc)
        self._back(partial(self._range_arrived, bounds, error))

    def _back(self, callback) -> None:
        """Hand a reader's answer to this session (never the document from this thread)."""
        if self.context.alive:
            self.context.post(callback)
