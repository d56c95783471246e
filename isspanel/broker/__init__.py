"""The Kafka side: the local KRaft broker (local.py), topics (topics.py), the producer's
resilient link (link.py) and short-lived bounded readers.

    from isspanel.broker import LocalBroker, ensure_topics
"""

from isspanel.broker.local import LocalBroker
from isspanel.broker.topics import ensure_topics, fresh_topics

__all__ = ["LocalBroker", "ensure_topics", "fresh_topics"]
