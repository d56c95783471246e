"""Event rows the producer writes to the events topic (the feed froze, the feed moves), and
the Kafka timestamp of everything it sends."""

from __future__ import annotations

import json
import logging
import threading
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError

log = logging.getLogger("isspanel.produce.producer")


def kafka_timestamp_ms(event_ts: float) -> int:
    """The event time, so offsets_for_times seeks by event time; never ahead of our clock,
    since a broker refuses timestamps over an hour ahead (Kafka 4's default
    log.message.timestamp.after.max.ms), and a refused record would block those after it."""
    return int(min(event_ts, time.time()) * 1000)


class EventQueue:
    """Events waiting for the publisher's producer. Rare and best effort: kept in memory,
    not in the spool; a failed send is logged, not retried."""

    def __init__(self, topic: str):
        self.topic = topic
        self._events: list[tuple[bytes, bytes, int]] = []  # key, value, Kafka timestamp (ms)
        self._lock = threading.Lock()

    def add(self, event: dict) -> None:
        # Keyed like a crossing (event + timestamp), so a compacted topic keeps each one.
        key = json.dumps({"event": event["event"], "timestamp": event["timestamp"]})
        value = json.dumps(event, separators=(",", ":")).encode()
        with self._lock:
            self._events.append((key.encode(), value, kafka_timestamp_ms(event["timestamp"])))

    def send(self, producer: KafkaProducer) -> None:
        with self._lock:
            events, self._events = self._events, []
        for key, value, ms in events:
            try:
                future = producer.send(self.topic, key=key, value=value, timestamp_ms=ms)
            except KafkaError as exc:
                log.warning("event %s not published to %s: %s", key.decode(), self.topic, exc)
                continue
            future.add_errback(
                lambda exc, k=key: log.warning("event %s not published: %s", k.decode(), exc)
            )
