"""The producer: one record per moment (moments.py), published through an outbox with a disk
spool (publisher.py, outbox.py, spool.py, outage.py), feed-frozen events (feed_events.py), and
what it counts (stats.py).

    from isspanel.produce import IssProducer
"""

from isspanel.produce.producer import IssProducer

__all__ = ["IssProducer"]
