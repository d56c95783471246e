"""The dashboard's streams, in one registry: what each topic brings and how a page shows it.

``STREAMS`` drives everything that handles a stream: the consumer assigns and backfills each
entry's topic (``consumer.py``), the hub validates and buffers its messages and publishes its
rows in every snapshot (``hub.py``, ``buffers.py``), a moment reads it back and builds the same
rows (``history.py``), and a page makes one ColumnDataSource per entry and streams the rows to
it (``page.py``). None of them names a stream; the positions entry is marked ``record``: the
status counts its records and the map's track and next orbit follow them.

A fifth stream is one entry here: its Kind (``broker/rows.py``: the Settings field that names
its topic, the validator, the row's own time and its key, whether Flink writes it), how many
rows a page keeps, its columns and the function that makes a row of them, and the name of the
page's source (tests/dashboard/test_streams.py adds one). Around the dashboard it needs what
makes it exist and be seen: its topic's Settings field; its Kind in ``rows.KINDS`` too, for the
topic to be created with the others and known to every reader (notebooks, ``read_at``); and a
view of its source on the page (as ``flink_view.py`` shows the Flink streams).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isspanel.broker.rows import EVENTS, POSITIONS, SPEEDS, STATS, Kind
from isspanel.dashboard.track import TRACK_COLUMNS
from isspanel.geo.mercator import mercator
from isspanel.record import IssRecord
from isspanel.settings import Settings

if TYPE_CHECKING:
    from isspanel.dashboard.sky_state import SkyState
    from isspanel.geo.quick import Quick

# A row builder: (validated data, n (its stream's rows so far, this one included), at (when it
# arrived; a moment: its own time), the sky (readouts)) -> the row's cells, as ``columns``.
RowBuilder = Callable[[Any, int, float, "SkyState | None"], tuple]


@dataclass(frozen=True, kw_only=True)
class Shown:
    """What a page shows of a stream: a ColumnDataSource of ``columns``, its last rows."""

    name: str  # the Snapshot's key (snapshot.streams[name])
    source: str  # the name of the page's ColumnDataSource (the tests find it by it)
    columns: tuple[str, ...]
    depth: int | str  # the rows kept: a number, or the Settings field that holds it

    def keep(self, settings: Settings) -> int:
        if isinstance(self.depth, int):
            return self.depth
        return operator.attrgetter(self.depth)(settings)


@dataclass(frozen=True, kw_only=True)
class Stream(Shown):
    """A stream read from Kafka: its topic's kind, and how its rows are made."""

    # The topic's Settings field, validator, row time and key; flink: written in transactions.
    kind: Kind
    row: RowBuilder
    record: bool = False  # the ISS's own records: counted, deduplicated, the track's points

    def topic(self, settings: Settings) -> str:
        return self.kind.topic(settings)


# Extra columns of the positions row: the readouts (isspanel.geo.quick), None where unknown.
READOUT_COLUMNS = ("alt_km", "speed_kmh", "sunlit", "over", "footprint_km")
# n, at and model_km are the status's per-record figures (records so far, when it arrived,
# live vs model): they travel with the row, so a record never re-renders the status.
POSITION_COLUMNS = (
    *("ts", "time", "lat", "lon", "x", "y", "source", "n", "at", "model_km"),
    *READOUT_COLUMNS,
)
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


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def readout_cells(readout: Quick | None) -> tuple:
    """The READOUT_COLUMNS of one row; rounded, as shown."""
    if readout is None:
        return (None,) * len(READOUT_COLUMNS)
    return (
        _rounded(readout.altitude_km, 2),
        _rounded(readout.ground_speed_kmh, 1),
        readout.sunlit,
        readout.over.name,
        _rounded(readout.footprint_radius_km, 1),
    )


def position_row(record: IssRecord, n: int, at: float, sky: SkyState | None = None) -> tuple:
    """One position as POSITION_COLUMNS; its readouts from ``sky`` (made once, by the hub)."""
    x, y = mercator(record.longitude, record.latitude)
    readout = (
        None if sky is None else sky.readout(record.timestamp, record.latitude, record.longitude)
    )
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


def speed_row(row: dict, *_context) -> tuple:
    return (row["t_ms"], float(row["speed_kmh"]))


def _cell(value):
    # A table cell: numbers stay numbers (the formatters round them), the rest is text.
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    return str(value)


def stats_row(row: dict, *_context) -> tuple:
    return tuple(_cell(row.get(c)) for c in STATS_COLUMNS)


def event_row(row: dict, *_context) -> tuple:
    rename = {
        "eventTime": row.get("eventTime", row.get("event_time", row.get("timestamp"))),
        "detail": row.get("direction", row.get("reason")),
    }
    return tuple(_cell(rename.get(c, row.get(c))) for c in EVENT_COLUMNS)


STREAMS: tuple[Stream, ...] = (
    Stream(
        name="positions",
        source="positions",
        columns=POSITION_COLUMNS,
        depth="dashboard.buffer_size",
        kind=POSITIONS,
        row=position_row,
        record=True,
    ),
    Stream(
        name="speeds",
        source="speed",
        columns=SPEED_COLUMNS,
        depth=600,
        kind=SPEEDS,
        row=speed_row,
    ),
    Stream(
        name="stats",
        source="stats",
        columns=STATS_COLUMNS,
        depth=24,
        kind=STATS,
        row=stats_row,
    ),
    Stream(
        name="events",
        source="events",
        columns=EVENT_COLUMNS,
        depth=24,
        kind=EVENTS,
        row=event_row,
    ),
)
# The map's track: not read from a topic, made by the server from the positions (track.py).
TRACK = Shown(name="track", source="track", columns=TRACK_COLUMNS, depth="dashboard.buffer_size")


def shown(streams: tuple[Stream, ...] = STREAMS) -> tuple[Shown, ...]:
    """What a page shows: every stream, and the track."""
    return (*streams, TRACK)


def records(streams: tuple[Stream, ...] = STREAMS) -> Stream:
    """The stream of the ISS's own records (the positions)."""
    return next(s for s in streams if s.record)
