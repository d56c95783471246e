"""One kafka-python KafkaProducer at a time: connected in the background, replaced on demand,
closed through its public ``close()`` only."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kafka import KafkaProducer
from kafka.errors import KafkaError

from isspanel.broker import clients

log = logging.getLogger("isspanel.produce.producer")


class KafkaLink:
    """The publisher's current KafkaProducer, or None while there is none yet.

    Its state is written by the thread that connects and by kafka-python's callbacks (through
    `renew` and `note_trouble`): one lock guards it, and only its own methods change it.
    """

    def __init__(
        self,
        config: dict,
        on_connected: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config  # read at each connect: callers may still change it
        self.clock = clock  # the publisher's, for connected_at and the backoff
        self.producer: KafkaProducer | None = None
        self.generation = 0  # which producer sent a record: a replaced one's reports are stale
        self.connected_at = 0.0
        self.closing = False
        self._on_connected = on_connected
        self._lock = threading.Lock()
        self._connecting = False
        self._backoff_s = 0.5
        self._next_try = 0.0
        self._trouble: str | None = None  # the last failure seen, until it is told
        self._renewal = ""  # why the producer must be replaced

    def get(self) -> KafkaProducer | None:
        """The producer; without one, start connecting (when the backoff allows) and say None.

        KafkaProducer() blocks until the broker answers (bootstrap_timeout_ms): in a thread
        of its own, so neither the ticks nor the fetches wait for it.
        """
        with self._lock:
            start = self.producer is None and not self._connecting
            start = start and self.clock() >= self._next_try
            self._connecting = self._connecting or start
        if start:
            threading.Thread(target=self._connect, name="kafka-connect").start()
        return self.producer

    def _connect(self) -> None:
        try:
            producer = clients.producer(**self.config)
        except (KafkaError, OSError) as exc:
            log.debug("connecting to Kafka failed: %s", exc)
            with self._lock:
                self._trouble = type(exc).__name__
                self._next_try = self.clock() + self._backoff_s
                self._backoff_s = min(self._backoff_s * 2, 30.0)
                self._connecting = False
            return
        with self._lock:
            self._backoff_s = 0.5
            self.connected_at = self.clock()
            self.producer, self._connecting = producer, False
        if not self.closing:
            self._on_connected()

    def note_trouble(self, why: str) -> None:
        """A send or a delivery failed (``why``, for the outage line)."""
        with self._lock:
            self._trouble = why

    def take_trouble(self) -> str | None:
        """The last failure seen since the last call, if any."""
        with self._lock:
            why, self._trouble = self._trouble, None
            return why

    def renew(self, why: str, generation: int) -> None:
        """Producer ``generation`` must be replaced (``why``); a replaced one needs nothing."""
        with self._lock:
            if generation == self.generation and self.producer is not None:
                self._renewal = why

    def renewal(self) -> str:
        """Why the producer must be replaced; empty while it need not."""
        with self._lock:
            return self._renewal

    def replace(self) -> None:
        """Let the producer go (the caller took back what it held); the next get() connects."""
        with self._lock:
            old, self.producer = self.producer, None
            self.generation += 1
            self._renewal = ""
        if old is not None:
            close_in_background(old)

    def close(self) -> None:
        self.closing = True
        deadline = time.monotonic() + self.config["bootstrap_timeout_ms"] / 1000 + 1
        while self._connecting and time.monotonic() < deadline:
            time.sleep(0.1)  # a producer on its way would be left open
        with self._lock:
            producer, self.producer = self.producer, None
        if producer is not None:
            close_in_background(producer, first_wait_s=2.0)


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
