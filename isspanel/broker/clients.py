"""kafka-python's clients, made so that one that fails to start leaves nothing running.

kafka-python 3.0.12 starts a client's I/O thread (``kafka-io-<client_id>``) before its first
contact with the cluster, and a constructor that then times out raises without stopping it:
during an outage, every retried KafkaConsumer or KafkaAdminClient left one more thread behind
for the life of the process. These factories hand the client the network client it would
make anyway, through its public ``kafka_client`` setting, keep it, and close it (which stops
the thread) when the constructor raises. tests/test_library_contracts.py tells when upstream
no longer leaks and this can go.
"""

from __future__ import annotations

from typing import TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

C = TypeVar("C", KafkaAdminClient, KafkaConsumer, KafkaProducer)


def _started(cls: type[C], configs: dict, *args: str) -> C:
    make = configs.pop("kafka_client", cls.DEFAULT_CONFIG["kafka_client"])
    made = []

    def kept(**kwargs):
        made.append(make(**kwargs))
        return made[-1]

    try:
        return cls(*args, kafka_client=kept, **configs)
    except BaseException:
        for client in made:
            client.close()
        raise


def admin_client(**configs) -> KafkaAdminClient:
    """A ``KafkaAdminClient(**configs)``; nothing left running if it raises."""
    return _started(KafkaAdminClient, configs)


def consumer(*topics: str, **configs) -> KafkaConsumer:
    """A ``KafkaConsumer(*topics, **configs)``; nothing left running if it raises."""
    return _started(KafkaConsumer, configs, *topics)


def producer(**configs) -> KafkaProducer:
    """A ``KafkaProducer(**configs)``; nothing left running if it raises."""
    return _started(KafkaProducer, configs)
