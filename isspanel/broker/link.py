"""One kafka-python KafkaProducer at a time: connected in the background, replaced on demand,
closed through its public ``close()`` only."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kafka import KafkaProducer
from kafka.errors import KafkaError

log = logging.getLogger("isspanel.produce.producer")


class KafkaLink:
    """The publisher's current KafkaProducer, or None while there is none yet."""

    def __init__(
        self,
        config: dict,
        on_connected: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config  # read at each connect: callers may still change it
        self.producer: KafkaProducer | None = None
        self.generation = 0  # which producer sent a record: a replaced one's reports are stale
        self.clock = clock  # the publisher's, for connected_at and the backoff
        self.connected_at = 0.0
        self.trouble: str | None = None  # why the last connect failed
        self.closing = False
        self._on_connected = on_connected
        self._connecting = False
        self._backoff_s = 0.5
        self._next_try = 0.0

    def get(self) -> KafkaProducer | None:
        """The producer; without one, start connecting (when the backoff allows) and say None.

        KafkaProducer() blocks until the broker answers (bootstrap_timeout_ms): in a thread
        of its own, so neither the ticks nor the fetches wait for it.
        """
        if self.producer is None and not self._connecting and self.clock() >= self._next_try:
            self._connecting = True
            threading.Thread(target=self._connect, name="kafka-connect").start()
        return self.producer

    def _connect(self) -> None:
        try:
            producer = KafkaProducer(**self.config)
        except (KafkaError, OSError) as exc:
            self.trouble = type(exc).__name__
            log.debug("connecting to Kafka failed: %s", exc)
            self._next_try = self.clock() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, 30.0)
            self._connecting = False
            return
        self._backoff_s = 0.5
        self.connected_at = self.clock()
        self.producer, self._connecting = producer, False
        if not self.closing:
            self._on_connected()

    def replace(self) -> None:
        """Let the producer go (the caller took back what it held); the next get() connects."""
        old, self.producer = self.producer, None
        self.generation += 1
        if old is not None:
            close_in_background(old)

    def close(self) -> None:
        self.closing = True
        deadline = time.monotonic() + self.config["bootstrap_timeout_ms"] / 1000 + 1
        while self._connecting and time.monotonic() < deadline:
            time.sleep(0.1)  # a producer on its way would be left open
        if self.producer is not None:
            close_in_background(self.producer, first_wait_s=2.0)
            self.producer = None


def close_in_background(producer: KafkaProducer, first_wait_s: float = 0.0) -> None:
    """Close a KafkaProducer now if it can, else from a daemon thread once it can.

    ``close()`` flushes first and raises while batches are pending (they expire within
    delivery_timeout_ms, or never if the producer is stuck). The thread's reference also keeps
    kafka-python's ``__del__``, which would raise the same at exit, from running.
    """
    try:
        producer.close(timeout=first_wait_s)
        return
    except KafkaError:
        pass

    def close() -> None:
        while True:
            try:
                producer.close(timeout=5)
                return
            except KafkaError:
                time.sleep(1)

    threading.Thread(target=close, name="kafka-producer-close", daemon=True).start()
