"""Where ISS positions come from: the live API, the SGP4 model, or a recorded file."""

from __future__ import annotations

import logging
from typing import Protocol

from isspanel.record import IssRecord
from isspanel.settings import Settings

log = logging.getLogger(__name__)

SOURCE_CHOICES = ("auto", "open-notify", "sgp4", "replay")


class SourceError(RuntimeError):
    """A fetch failed (network, HTTP status, timeout); nothing was produced."""


class StaleAnswer(Exception):
    """The live API repeated an answer: nothing new to publish, unless ``stand_in`` is given
    (auto mode with a frozen feed: the SGP4 position for now)."""

    def __init__(self, message: str, stand_in: IssRecord | None = None):
        super().__init__(message)
        self.stand_in = stand_in


class Source(Protocol):
    name: str

    def fetch(self) -> IssRecord:
        """One position now, validated; raises SourceError or InvalidRecord."""

    def close(self) -> None: ...


def make_source(settings: Settings, name: str | None = None) -> Source:
    name = name or settings.producer.source
    if name not in SOURCE_CHOICES:
        raise ValueError(f"unknown source {name!r}; choose one of {', '.join(SOURCE_CHOICES)}")
    if name == "open-notify":
        from isspanel.sources.open_notify import OpenNotifySource
        from isspanel.sources.watched import WatchedLive

        return WatchedLive(settings, OpenNotifySource(settings), fallback=False)
    if name == "sgp4":
        from isspanel.sources.sgp4_model import Sgp4Source

        return Sgp4Source(settings)
    if name == "replay":
        from isspanel.sources.replay import ReplaySource

        return ReplaySource(settings)
    return auto_source(settings)


def auto_source(settings: Settings) -> Source:
    """The live API if it answers now (SGP4 stands in while it is frozen), otherwise the
    offline SGP4 model (said loudly)."""
    from isspanel.record import InvalidRecord
    from isspanel.sources.open_notify import OpenNotifySource
    from isspanel.sources.sgp4_model import Sgp4Source
    from isspanel.sources.watched import WatchedLive

    live = OpenNotifySource(settings)
    try:
        live.fetch()
    except (SourceError, InvalidRecord) as exc:
        live.close()
        log.warning("=" * 72)
        log.warning("OFFLINE: %s does not answer (%s)", settings.producer.api_url, exc)
        log.warning("OFFLINE: publishing positions computed by SGP4 from its TLE instead")
        log.warning("=" * 72)
        return Sgp4Source(settings)
    log.info("source: live API %s answers", settings.producer.api_url)
    return WatchedLive(settings, live, fallback=True)
