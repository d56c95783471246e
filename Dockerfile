# syntax=docker/dockerfile:1
# The isspanel image: the producer, the dashboard, the Flink job submitter, the topic
# creator and JupyterLab of docker-compose.yml all run it.
#   - Python from the official image, pinned to Debian bookworm: it is the Debian release
#     with openjdk-17 (trixie ships only 21).
#   - A JRE, because PyFlink starts a JVM to plan and submit the SQL jobs.
#   - The Flink Kafka SQL connector from Maven Central in $ISS_JARS_DIR/flink, where
#     `make jars` puts it on a workstation: planning a job that reads Kafka needs it on
#     the client. The broker jars of pom.xml are not needed: compose runs the official
#     apache/kafka image, so Maven itself is not installed here.
# The versions below are defaults; docker-compose.yml passes its x-versions as build args
# and tests/test_compose.py checks both against isspanel/versions.py, pyproject.toml and pom.xml.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm

ARG JAVA_VERSION=17
ARG FLINK_VERSION=2.2.1
ARG FLINK_KAFKA_CONNECTOR=5.0.0-2.2
ARG MAVEN_REPO=https://repo.maven.apache.org/maven2
ARG CONNECTOR_JAR=flink-sql-connector-kafka-${FLINK_KAFKA_CONNECTOR}.jar

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# openjdk's postinst links its man pages; the slim image has no man1 folder for them.
RUN set -eux; \
    mkdir -p /usr/share/man/man1; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "openjdk-${JAVA_VERSION}-jre-headless" curl ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java
ENV JAVA_HOME=/opt/java

ENV ISS_HOME=/var/lib/isspanel \
    ISS_JARS_DIR=/opt/isspanel/jars

RUN set -eux; \
    mkdir -p "${ISS_JARS_DIR}/flink"; \
    url="${MAVEN_REPO}/org/apache/flink/flink-sql-connector-kafka/${FLINK_KAFKA_CONNECTOR}/${CONNECTOR_JAR}"; \
    curl -fsSL --retry 3 -o "${ISS_JARS_DIR}/flink/${CONNECTOR_JAR}" "${url}"; \
    echo "$(curl -fsSL --retry 3 "${url}.sha1" | cut -c1-40)  ${ISS_JARS_DIR}/flink/${CONNECTOR_JAR}" \
        | sha1sum -c -

# /app is laid out like a checkout and the install is editable, because the code finds its
# files from the project root (isspanel.settings.PROJECT_ROOT): the Flink SQL in flink/, and
# `panel serve isspanel` serves the isspanel/ folder.
WORKDIR /app
COPY pyproject.toml README.md ./
COPY isspanel/ isspanel/
COPY flink/ flink/
# pyproject allows any 2.2.x; the image takes exactly the version the Flink cluster runs.
RUN pip install -e . "apache-flink==${FLINK_VERSION}"

# The notebooks are not baked in: the jupyter service mounts ./notebooks here.
RUN set -eux; \
    useradd --create-home --uid 1000 iss; \
    mkdir -p "${ISS_HOME}" /app/notebooks; \
    chown -R iss:iss "${ISS_HOME}" /app/notebooks
USER iss

EXPOSE 5006 8888
CMD ["isspanel", "--help"]
