"""The one place for the versions isspanel builds on.

pom.xml, pyproject.toml, docker-compose.yml and the Dockerfiles repeat these numbers
(they cannot import Python); tests/test_project_files.py and tests/test_compose.py
fail when any of them drifts from this file.
"""

from __future__ import annotations

PYTHON = "3.11"
JAVA = "17"

KAFKA_VERSION = "4.1.1"  # apache/kafka image tag and pom.xml <kafka.version>
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"

FLINK_VERSION = "2.2.1"  # apache-flink pin, the flink image, pom.xml <flink.version>
FLINK_MINOR = ".".join(FLINK_VERSION.split(".")[:2])
FLINK_SCALA = "2.12"
FLINK_IMAGE = f"flink:{FLINK_VERSION}-scala_{FLINK_SCALA}-java{JAVA}"
FLINK_KAFKA_CONNECTOR = f"5.0.0-{FLINK_MINOR}"  # org.apache.flink:flink-sql-connector-kafka

MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"


def connector_jar_url(version: str = FLINK_KAFKA_CONNECTOR) -> str:
    """Maven Central URL of the Flink Kafka SQL connector jar."""
    name = f"flink-sql-connector-kafka-{version}.jar"
    return f"{MAVEN_CENTRAL}/org/apache/flink/flink-sql-connector-kafka/{version}/{name}"
