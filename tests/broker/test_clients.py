"""A kafka-python client that cannot reach its cluster raises and leaves no thread running."""

from __future__ import annotations

import threading

import pytest
from kafka.errors import KafkaError

from isspanel.broker import clients
from tests.conftest import free_port


def io_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kafka-io-")}


MAKERS = {
    "admin": lambda bootstrap: clients.admin_client(
        bootstrap_servers=bootstrap, bootstrap_timeout_ms=500
    ),
    "consumer": lambda bootstrap: clients.consumer(
        "iss-location", bootstrap_servers=bootstrap, bootstrap_timeout_ms=500
    ),
    "producer": lambda bootstrap: clients.producer(
        bootstrap_servers=bootstrap, bootstrap_timeout_ms=500
    ),
}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_a_client_that_cannot_start_leaves_no_thread(kind):
    before = io_threads()
    with pytest.raises(KafkaError):
        MAKERS[kind](f"127.0.0.1:{free_port()}")
    assert io_threads() - before == set()


def test_a_client_that_starts_is_the_librarys_own(kafka_settings):
    with clients.admin_client(bootstrap_servers=kafka_settings.kafka.bootstrap_servers) as admin:
        assert isinstance(admin.list_topics(), list)
