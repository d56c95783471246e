"""The Kafka side: the local KRaft broker (local.py), topics (topics.py), the producer's
resilient link (link.py) and the short-lived bounded readers of time travel (history.py,
rows.py).

    from isspanel.broker import LocalBroker, ensure_topics, read_at
"""

from isspanel.broker.history import read_at, retained_range
from isspanel.broker.local import LocalBroker
from isspanel.broker.topics import ensure_topics, fresh_topics

__all__ = ["LocalBroker", "ensure_topics", "fresh_topics", "read_at", "retained_range"]
