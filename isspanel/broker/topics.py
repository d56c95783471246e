"""Create the pipeline's topics with explicit partitions and retention."""

from __future__ import annotations

import logging
import uuid

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from isspanel.broker import clients
from isspanel.broker.rows import KINDS
from isspanel.settings import Settings

log = logging.getLogger(__name__)


def pipeline_topics(settings: Settings) -> list[str]:
    """The topics of the pipeline's kinds of rows (``rows.KINDS``): positions first."""
    return [kind.topic(settings) for kind in KINDS]


def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the missing topics; return the names created."""
    names = names or pipeline_topics(settings)
    # A broker that is down fails this in ISS_KAFKA_CONNECT_TIMEOUT_S (5 s), not in
    # kafka-python's default 30.
    admin = clients.admin_client(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        client_id="isspanel-admin",
        bootstrap_timeout_ms=settings.kafka.connect_timeout_ms,
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=settings.topics.partitions,
                replication_factor=1,
                topic_configs={"retention.ms": str(settings.topics.retention_ms)},
            )
            for name in names
            if name not in existing
        ]
        if not wanted:
            return []
        try:
            admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            pass  # created meanwhile by another process: fine
        created = [t.name for t in wanted]
        log.info(
            "created topic(s) %s: %d partition(s), retention %.1f days",
            ", ".join(created),
            settings.topics.partitions,
            settings.topics.retention_ms / 86_400_000,
        )
        return created
    finally:
        admin.close()


def fresh_topics(settings: Settings, prefix: str = "iss", **overrides) -> Settings:
    """Settings whose four topics have new unique names, created (tests, benches, notebooks);
    ``overrides`` as in ``Settings.replace``."""
    tag = uuid.uuid4().hex[:8]
    settings = settings.replace(**overrides).replace(
        topics={
            "location": f"{prefix}-location-{tag}",
            "speed": f"{prefix}-speed-{tag}",
            "stats": f"{prefix}-stats-{tag}",
            "events": f"{prefix}-events-{tag}",
        }
    )
    ensure_topics(settings)
    return settings
