"""The publisher's link to Kafka (isspanel.broker.link) against a real broker: its state changes
through its own methods only, and a replaced producer's reports are stale."""

from __future__ import annotations

import threading

from isspanel.broker.link import KafkaLink
from tests.browser import wait_until
from tests.conftest import free_port


def test_a_replaced_producer_is_not_renewed_again(kafka_settings):
    connected = threading.Event()
    link = KafkaLink(
        {
            "bootstrap_servers": kafka_settings.kafka.bootstrap_servers,
            "bootstrap_timeout_ms": 10_000,
        },
        connected.set,
    )
    try:
        assert link.get() is None  # connecting, in the background
        assert connected.wait(30)
        first, generation = link.get(), link.generation
        assert first is not None and link.renewal() == ""
        link.renew("a delivery failed: KafkaTimeoutError", generation - 1)  # stale
        assert link.renewal() == ""
        link.renew("a delivery failed: KafkaTimeoutError", generation)
        assert link.renewal() == "a delivery failed: KafkaTimeoutError"
        link.replace()
        assert (link.producer, link.generation, link.renewal()) == (None, generation + 1, "")
        # A late report of the replaced producer asks for nothing.
        link.renew("a delivery failed: KafkaTimeoutError", generation)
        assert link.renewal() == ""
        connected.clear()
        link.get()
        assert connected.wait(30) and link.get() not in (None, first)
    finally:
        link.close()
    assert link.producer is None


def test_trouble_is_told_once():
    """A failed connect is trouble to tell, once; so is a failed send, noted from outside."""
    link = KafkaLink(
        {"bootstrap_servers": f"127.0.0.1:{free_port()}", "bootstrap_timeout_ms": 500},
        lambda: None,
    )
    try:
        link.get()
        trouble = wait_until(link.take_trouble, 30, "a failed connect")
        assert trouble in ("NoBrokersAvailable", "KafkaConnectionError", "KafkaTimeoutError")
        assert link.take_trouble() is None
        link.note_trouble("KafkaTimeoutError")
        assert link.take_trouble() == "KafkaTimeoutError" and link.take_trouble() is None
        link.renew("nothing to renew", link.generation)  # no producer yet
        assert link.renewal() == ""
    finally:
        link.close()
