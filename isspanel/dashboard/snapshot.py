"""The hub's shared state: one immutable, versioned snapshot that every session reads.

The consumer thread builds a new Snapshot when something changes and swaps it in whole; a
session remembers the counters of the snapshot it last showed and sends only the rows
that are newer. Rows are made once per record (``streams.py``), never once per session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from isspanel.dashboard.health import Health


def columns(rows: Sequence[tuple], names: Sequence[str]) -> dict[str, list]:
    """Rows as a ColumnDataSource's data: new lists, so a session may stream into them."""
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


def send_rows(source, new: Rows, old: Rows, names: Sequence[str], keep: int, fresh: bool) -> bool:
    """Bring ``source`` (a ColumnDataSource) from ``old`` to ``new``: the new rows streamed, or
    all of them again after a reset or on a ``fresh`` view. False if the stream did not change."""
    if new is old and not fresh:
        return False
    rows = None if fresh else new.since(old)
    if rows is None:
        source.data = columns(new.rows, names)
    elif rows:
        source.stream(columns(rows, names), rollover=max(keep, len(rows)))
    return True


@dataclass(frozen=True)
class Rows:
    """The newest rows of one stream and how many it has had in all (for deltas)."""

    rows: tuple[tuple, ...] = ()
    total: int = 0
    resets: int = 0  # rows were changed, not only added: a session takes them all again

    def since(self, shown: Rows) -> tuple[tuple, ...] | None:
        """The rows after those of ``shown``; None if they are no longer all here, or rows
        changed (resync)."""
        new = self.total - shown.total
        if new < 0 or new > len(self.rows) or self.resets != shown.resets:
            return None
        return self.rows[len(self.rows) - new :] if new else ()


NO_ROWS = Rows()


@dataclass(frozen=True)
class Snapshot:
    """What a page shows. ``streams``: the rows of each stream (``streams.shown``) by name;
    ``snapshot.positions`` is ``snapshot.streams["positions"]``."""

    version: int = 0
    streams: Mapping[str, Rows] = field(default_factory=lambda: MappingProxyType({}))
    # Made once per change and shared: sessions assign copies of the dicts, never stream.
    predicted: dict = field(default_factory=lambda: {"x": [], "y": []})
    predicted_version: int = 0
    night: dict = field(default_factory=lambda: {"x": [], "y": []})
    night_version: int = 0
    health: Health = field(default_factory=Health)
    status: str = ""
    health_version: int = 0

    def rows(self, name: str) -> Rows:
        """A stream's rows (none yet in a snapshot made before any)."""
        return self.streams.get(name, NO_ROWS)

    def __getattr__(self, name: str) -> Rows:
        # Only for names that are not fields: a stream's rows by its name.
        if name.startswith("_") or name == "streams":
            raise AttributeError(name)
        try:
            return self.streams[name]
        except KeyError:
            raise AttributeError(f"Snapshot has no stream {name!r}") from None
