"""Where the Flink cluster is and a TableEnvironment on it: the local mini-cluster inside this
process (REST on ISS_FLINK_BIND_ADDRESS:ISS_FLINK_REST_PORT, loopback by default) or the
JobManager of ISS_FLINK_JOBMANAGER, with the Kafka SQL connector jar of `make jars`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from isspanel.settings import Settings


def connector_jar(settings: Settings) -> Path:
    jars = sorted((settings.jars_dir / "flink").glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no flink-sql-connector-kafka jar in {settings.jars_dir / 'flink'}: run `make jars`"
        )
    return jars[-1]


def local_host(settings: Settings) -> str:
    """Where clients reach the local mini-cluster: its bind address, unless a wildcard."""
    bind = settings.flink_bind_address
    return "localhost" if bind in ("", "0.0.0.0", "::") else bind


def rest_address(settings: Settings) -> str:
    """host:port of the JobManager REST API (the local mini-cluster's when none is set)."""
    return settings.jobmanager or f"{local_host(settings)}:{settings.flink_rest_port}"


def web_url(settings: Settings) -> str:
    return f"http://{rest_address(settings)}/"


def flink_config(settings: Settings) -> dict[str, str]:
    config = {
        "parallelism.default": str(settings.flink_parallelism),
        "pipeline.jars": connector_jar(settings).as_uri(),
        "table.local-time-zone": "UTC",
        "pipeline.object-reuse": "true",
        # Kafka client threads log after a cancelled job's class loader closed: harmless noise.
        "classloader.check-leaked-classloader": "false",
    }
    if settings.jobmanager:
        host, _, port = settings.jobmanager.rpartition(":")
        config |= {"execution.target": "remote", "rest.address": host, "rest.port": port}
    else:
        # The REST API accepts jobs (runs code): it and the blob server (jobmanager.bind-host)
        # listen on the bind address only. RPC and data exchange of a mini-cluster stay inside
        # the JVM; their keys are set too, so that nothing else binds a wildcard address.
        bind = settings.flink_bind_address
        config |= {"rest.address": local_host(settings), "rest.port": str(settings.flink_rest_port)}
        for key in ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host"):
            config[key] = bind
        config["jobmanager.rpc.address"] = config["taskmanager.host"] = local_host(settings)
    return config


def create_table_env(settings: Settings, **config: str):
    """A streaming TableEnvironment: local mini-cluster or remote JobManager, connector jar."""
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    # The gateway JVM (and the mini-cluster in it) logs here rather than into site-packages.
    log_dir = settings.home / "flink" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FLINK_LOG_DIR", str(log_dir))
    # On a mini-cluster PyFlink otherwise starts a gRPC server for Python UDF workers in this
    # process, listening on [::] (all interfaces). Our jobs are pure SQL: in "process" mode a UDF
    # would get a worker process from the JVM instead, and nothing listens.
    os.environ.setdefault("_python_worker_execution_mode", "process")
    conf = Configuration()
    for key, value in (flink_config(settings) | config).items():
        conf.set_string(key, value)
    env_settings = (
        EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
    )
    root = logging.getLogger()
    level = root.level
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    t_env = TableEnvironment.create(env_settings)
    root.setLevel(level)  # PyFlink's Beam worker module sets the root logger to WARNING
    # Set through TableConfig too: that also puts the jar on the client's class loader.
    t_env.get_config().set("pipeline.jars", conf.get_string("pipeline.jars", ""))
    return t_env
