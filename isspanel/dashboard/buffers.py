"""Each stream's newest rows, its count and the map's track: what a snapshot shows.

The hub keeps one (under its lock) and adds every message the consumer brings; a moment
(``history.py``) fills its own with the rows read back from Kafka. Both go through ``add``,
so a page at a moment shows what the live page showed: the same rows, the same track.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from types import MappingProxyType
from typing import Any

from isspanel.dashboard.sky_state import SkyState
from isspanel.dashboard.snapshot import Rows
from isspanel.dashboard.streams import TRACK, Stream, records
from isspanel.dashboard.track import Track, anomaly_leg
from isspanel.settings import Settings


class Buffers:
    """The rows of ``streams`` (``streams.STREAMS``), made once and kept ``keep`` deep."""

    def __init__(self, settings: Settings, streams: tuple[Stream, ...]):
        self.streams = streams
        self.rows = {s.name: deque(maxlen=s.keep(settings)) for s in streams}
        self.totals = dict.fromkeys(self.rows, 0)
        self.record = records(streams)  # the positions: the track's points
        self.keys: set[Hashable] = set()  # the records' keys (timestamps) in their buffer
        self._key_order: deque[Hashable] = deque(maxlen=self.record.keep(settings))
        self.track = Track(TRACK.keep(settings))
        self.changed: set[str] = set()  # streams whose rows changed since ``take``

    def add(self, stream: Stream, data: Any, at: float, sky: SkyState | None) -> tuple | None:
        """Add one validated message (``stream.kind.parse``'s); its row, or None for a record
        whose key is already shown (a repeat: the key says it is the same record).

        ``at``: when it arrived (a moment: its own time); ``sky`` makes the readouts.
        """
        rows = self.rows[stream.name]
        if stream.record:
            key = stream.kind.key(data)
            if key in self.keys:
                return None
            if len(self._key_order) == self._key_order.maxlen:
                self.keys.discard(self._key_order[0])
            self._key_order.append(key)
            self.keys.add(key)
        self.totals[stream.name] += 1
        prev = rows[-1] if rows else None
        row = stream.row(data, self.totals[stream.name], at, sky)
        rows.append(row)
        self.changed.add(stream.name)
        if stream.record:
            self.track.follow(prev, row)
            self.changed.add(TRACK.name)
        elif isinstance(data, dict):
            leg = anomaly_leg(data)  # the track is not drawn through an anomalous leg
            if leg is not None and self.track.break_leg(leg):
                self.changed.add(TRACK.name)
        return row

    def take(self, streams: MappingProxyType | dict) -> MappingProxyType:
        """``streams`` (a snapshot's) with the rows that changed since the last take."""
        changed, self.changed = self.changed, set()
        out = dict(streams)
        for name in changed:
            if name == TRACK.name:
                track = self.track
                out[name] = Rows(tuple(track.rows), self.totals[self.record.name], track.resets)
            else:
                out[name] = Rows(tuple(self.rows[name]), self.totals[name])
        return MappingProxyType(out)

    def all(self) -> MappingProxyType:
        """Every stream's rows and the track (a first snapshot, a moment's)."""
        self.changed.update(self.rows, (TRACK.name,))
        return self.take({})
