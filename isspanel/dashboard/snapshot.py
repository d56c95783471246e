"""The hub's shared state: one immutable, versioned snapshot that every session reads.

The consumer thread builds a new Snapshot when something changes and swaps it in whole; a
session remembers the counters of the snapshot it last showed and sends only the rows
that are newer. Rows are made once per record here, never once per session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from isspanel.dashboard.health import Health
from isspanel.dashboard.readouts_view import READOUT_COLUMNS, readout_cells
from isspanel.dashboard.world_map import mercator
from isspanel.geo.quick import Quick
from isspanel.record import IssRecord

# n, at and model_km are the status's per-record figures (records so far, when it arrived,
# live vs model): they travel with the row, so a record never re-renders the status.
POSITION_COLUMNS = ("ts", "time", "lat", "lon", "x", "y", "source", "n", "at", "model_km",
                    *READOUT_COLUMNS)  # fmt: skip
SPEED_COLUMNS = ("t", "kmh")
STATS_COLUMNS = (
    "window_start",
    "window_end",
    "count",
    "mean_speed_kmh",
    "distance_km",
    "min_latitude",
    "max_latitude",
)
# detail: a crossing's direction, or why a leg is an anomaly (its reason).
EVENT_COLUMNS = ("eventTime", "event", "direction", "detail", "latitude", "longitude", "source")


def position_row(record: IssRecord, n: int, at: float, readout: Quick | None = None) -> tuple:
    """One position as the page's columns (POSITION_COLUMNS); n counts records received,
    ``at`` is the wall time it arrived, ``readout`` its readouts (made once, by the hub)."""
    x, y = mercator(record.longitude, record.latitude)
    return (
        record.timestamp,
        record.event_time.replace("T", " ").rstrip("Z"),
        round(record.latitude, 4),
        round(record.longitude, 4),
        x,
        y,
        record.source,
        n,
        round(at, 3),
        record.model_km,
        *readout_cells(readout),
    )


def speed_row(row: dict) -> tuple:
    return (row["t_ms"], float(row["speed_kmh"]))


def _cell(value):
    # A table cell: numbers stay numbers (the formatters round them), the rest is text.
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    return str(value)


def stats_row(row: dict) -> tuple:
    return tuple(_cell(row.get(c)) for c in STATS_COLUMNS)


def event_row(row: dict) -> tuple:
    rename = {
        "eventTime": row.get("eventTime", row.get("event_time", row.get("timestamp"))),
        "detail": row.get("direction", row.get("reason")),
    }
    return tuple(_cell(rename.get(c, row.get(c))) for c in EVENT_COLUMNS)


def columns(rows: Sequence[tuple], names: Sequence[str]) -> dict[str, list]:
    """Rows as a ColumnDataSource's data: new lists, so a session may stream into them."""
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


def send_rows(
    source, new: Stream, old: Stream, names: Sequence[str], keep: int, fresh: bool
) -> bool:
    """Bring ``source`` (a ColumnDataSource) from ``old`` to ``new``: the new rows streamed, or
    all of them again after a reset or on a ``fresh`` view. False if the stream did not change."""
    if new is old:
        return False
    rows = None if fresh else new.since(old)
    if rows is None:
        source.data = columns(new.rows, names)
    elif rows:
        source.stream(columns(rows, names), rollover=max(keep, len(rows)))
    return True


@dataclass(frozen=True)
class Stream:
    """The newest rows of one stream and how many it has had in all (for deltas)."""

    rows: tuple[tuple, ...] = ()
    total: int = 0
    resets: int = 0  # rows were changed, not only added: a session takes them all again

    def since(self, shown: Stream) -> tuple[tuple, ...] | None:
        """The rows after those of ``shown``; None if they are no longer all here, or rows
        changed (resync)."""
        new = self.total - shown.total
        if new < 0 or new > len(self.rows) or self.resets != shown.resets:
            return None
        return self.rows[len(self.rows) - new :] if new else ()


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    positions: Stream = field(default_factory=Stream)
    speeds: Stream = field(default_factory=Stream)
    stats: Stream = field(default_factory=Stream)
    events: Stream = field(default_factory=Stream)
    track: Stream = field(default_factory=Stream)  # isspanel.dashboard.track: a row per position
    # Made once per change and shared: sessions assign copies of the dicts, never stream.
    predicted: dict = field(default_factory=lambda: {"x": [], "y": []})
    predicted_version: int = 0
    night: dict = field(default_factory=lambda: {"x": [], "y": []})
    night_version: int = 0
    health: Health = field(default_factory=Health)
    status: str = ""
    health_version: int = 0
