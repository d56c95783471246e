"""The Kafka side: kafka-python's clients that leave nothing behind when they fail to start
(clients.py), the local KRaft broker (local.py), topics (topics.py), the producer's
resilient link (link.py), and the short-lived, bounded readers of time travel (history.py
reads, rows.py validates), and the notebooks' reader of a whole topic (reading.py).

    from isspanel.broker import LocalBroker, ensure_topics, read_at, read_topic, retained_range
"""

from __future__ import annotations

from datetime import datetime

from isspanel.broker.history import History, HistoryError, HistoryReader
from isspanel.broker.local import LocalBroker
from isspanel.broker.reading import read_topic
from isspanel.broker.topics import ensure_topics
from isspanel.settings import Settings

__all__ = [
    "History",
    "HistoryError",
    "HistoryReader",
    "LocalBroker",
    "ensure_topics",
    "read_at",
    "read_topic",
    "retained_range",
]


def read_at(settings: Settings, topic: str, at: datetime, limit: int | None = None) -> History:
    """Open a reader, read ``topic`` at ``at``, close it."""
    with HistoryReader(settings) as reader:
        return reader.read(topic, at, limit)


def retained_range(settings: Settings, topic: str) -> tuple[datetime, datetime] | None:
    """The oldest and newest row time ``topic`` still retains (None if it holds none), for a
    slider's bounds; HistoryError if the topic does not exist."""
    with HistoryReader(settings) as reader:
        return reader.retained(topic)
