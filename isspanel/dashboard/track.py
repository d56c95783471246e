"""The map's track, decided by the server: one segment per position, from the one before it.

A segment is drawn unless its two positions are on either side of the antimeridian (the line
would cross the whole map) or the leg between them overlaps an anomalous leg (an `anomaly` event
of flink/30_crossings.sql: its ground speed is impossible, so the track is not drawn through
it; one bad position makes two such legs and stands alone). A segment not drawn has NaN ends
(Bokeh skips it), so the track has a row per position and rolls over with the positions. An
anomaly usually arrives after its positions (Flink commits every checkpoint): the segments it
breaks are then blanked, and sessions get the whole track again (Stream.resets).
"""

from __future__ import annotations

import math
from collections import deque

from isspanel.geo.mercator import HALF_WIDTH  # a longer step is an antimeridian jump

# A segment's row: times of its two positions (epoch s) and its ends in Web Mercator (m).
TRACK_COLUMNS = ("t0", "t1", "x0", "y0", "x1", "y1")
NAN = float("nan")
MAX_ANOMALIES = 512  # the anomalous legs remembered, for positions that arrive after them


def anomaly_leg(row: dict) -> tuple[int, int] | None:
    """(prev_timestamp, timestamp) of an anomaly event row, or None if it has no such leg."""
    if row.get("event") != "anomaly":
        return None
    ends = (row.get("prev_timestamp"), row.get("timestamp"))
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in ends) or ends[0] >= ends[1]:
        return None
    return ends  # type: ignore[return-value]


def _overlaps(t0: int, t1: int, leg: tuple[int, int]) -> bool:
    """Whether the segment between moments t0 and t1 runs along (part of) ``leg``."""
    return min(t0, t1) < leg[1] and max(t0, t1) > leg[0]


def _blank(seg: tuple) -> tuple:
    return (*seg[:2], NAN, NAN, NAN, NAN)


class Track:
    """A segment per position row (the caller holds the hub's lock)."""

    def __init__(self, size: int) -> None:
        self.rows: deque[tuple] = deque(maxlen=size)
        self.resets = 0  # times drawn segments were blanked: sessions then take the whole track
        self.anomalies: deque[tuple[int, int]] = deque(maxlen=MAX_ANOMALIES)

    def follow(self, prev: tuple | None, row: tuple) -> None:
        """The segment into position ``row`` from ``prev`` (position rows: ts, time, lat, lon,
        x, y, ...; prev is None for the first)."""
        if prev is None:
            self.rows.append(_blank((row[0], row[0])))
            return
        seg = (prev[0], row[0], prev[4], prev[5], row[4], row[5])
        if abs(seg[4] - seg[2]) > HALF_WIDTH or any(
            _overlaps(seg[0], seg[1], leg) for leg in self.anomalies
        ):
            seg = _blank(seg)
        self.rows.append(seg)

    def break_leg(self, leg: tuple[int, int]) -> bool:
        """Remember an anomalous leg; blank the segments along it. True if one was drawn."""
        if leg in self.anomalies:
            return False
        self.anomalies.append(leg)
        hit = [
            i
            for i, seg in enumerate(self.rows)
            if not math.isnan(seg[2]) and _overlaps(seg[0], seg[1], leg)
        ]
        for i in hit:
            self.rows[i] = _blank(self.rows[i])
        if hit:
            self.resets += 1
        return bool(hit)
