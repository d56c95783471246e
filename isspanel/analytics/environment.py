"""Where the Flink cluster is and a TableEnvironment on it: the local mini-cluster inside this
process (REST on ISS_FLINK_BIND_ADDRESS:ISS_FLINK_REST_PORT, loopback by default) or the
JobManager of ISS_FLINK_JOBMANAGER, with the Kafka SQL connector jar of `make jars`. And the
client's side of PyFlink's gateway JVM: whether it still runs, py4j's noise, what a Java error
says in one line.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import MutableMapping
from pathlib import Path

from isspanel.processes import alive, children
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
    bind = settings.flink.bind_address
    return "localhost" if bind in ("", "0.0.0.0", "::") else bind


def rest_address(settings: Settings) -> str:
    """host:port of the JobManager REST API (the local mini-cluster's when none is set)."""
    return settings.flink.jobmanager or f"{local_host(settings)}:{settings.flink.rest_port}"


def web_url(settings: Settings) -> str:
    return f"http://{rest_address(settings)}/"


def flink_config(settings: Settings) -> dict[str, str]:
    config = {
        "parallelism.default": str(settings.flink.parallelism),
        "pipeline.jars": connector_jar(settings).as_uri(),
        "table.local-time-zone": "UTC",
        "pipeline.object-reuse": "true",
        # Kafka client threads log after a cancelled job's class loader closed: harmless noise.
        "classloader.check-leaked-classloader": "false",
    }
    if settings.flink.jobmanager:
        host, _, port = settings.flink.jobmanager.rpartition(":")
        config |= {"execution.target": "remote", "rest.address": host, "rest.port": port}
    else:
        # The REST API accepts jobs (runs code): it and the blob server (jobmanager.bind-host)
        # listen on the bind address only. RPC and data exchange of a mini-cluster stay inside
        # the JVM; their keys are set too, so that nothing else binds a wildcard address.
        bind = settings.flink.bind_address
        config |= {"rest.address": local_host(settings), "rest.port": str(settings.flink.rest_port)}
        for key in ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host"):
            config[key] = bind
        config["jobmanager.rpc.address"] = config["taskmanager.host"] = local_host(settings)
    return config


def scratch_dir(settings: Settings) -> Path:
    """This process's Flink scratch folder, ``<home>/flink/tmp/<pid>``; those of processes
    that have ended are removed.

    Flink's RPC system unpacks a 20 MB jar into ``io.tmp.dirs`` (default /tmp) and deletes it
    only when the cluster closes, which PyFlink's gateway JVM never does: every run of a job,
    notebook or test left one in /tmp for good (4.7 GB of them here in two days), and a
    killed run left the mini-cluster's folders and the table planner's 45 MB jar too.
    """
    root = settings.home / "flink" / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.name.isdigit() and not alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    mine.mkdir(exist_ok=True)
    return mine


def scratch_env(settings: Settings, env: MutableMapping[str, str]) -> Path:
    """This process's scratch folder, made the JVM's temporary folder in ``env``'s JVM_ARGS
    (read by PyFlink's gateway and Flink's scripts) unless one is set there already."""
    scratch = scratch_dir(settings)
    jvm_args = env.get("JVM_ARGS", "")
    if "-Djava.io.tmpdir=" not in jvm_args:
        env["JVM_ARGS"] = f"{jvm_args} -Djava.io.tmpdir={scratch}".strip()
    return scratch


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
    # The JVM's own scratch (the planner's jar) and the mini-cluster's (io.tmp.dirs) in ours.
    scratch = scratch_env(settings, os.environ)  # JVM_ARGS: read by PyFlink to start the JVM
    if not settings.flink.jobmanager:
        config = {"io.tmp.dirs": str(scratch), **config}
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


# -- the gateway JVM --------------------------------------------------------------------------


class Py4JNoise(logging.Filter):
    """py4j's own records (connection errors once the JVM is gone, a KeyboardInterrupt inside a
    call) go to DEBUG: they repeat per Java object and say nothing the runner does not say."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.name.startswith("py4j") or "py4j" in Path(record.pathname).parts):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_PY4J_FILTER = Py4JNoise()


def quiet_py4j() -> None:
    """Install the filter for the rest of the process: py4j logs at exit too (object GC).

    Filters of a logger see only records made by that logger, so each py4j logger gets it,
    and the root logger for py4j's `logging.exception(...)` calls.
    """
    for name in ("", "py4j", "py4j.java_gateway", "py4j.clientserver"):
        logger = logging.getLogger(name)
        if _PY4J_FILTER not in logger.filters:
            logger.addFilter(_PY4J_FILTER)


def gateway_alive(settle_s: float = 0.0) -> bool:
    """Whether the gateway JVM (a java child of this process) still runs; waits up to
    ``settle_s`` for one that is going."""
    deadline = time.monotonic() + settle_s
    while children(os.getpid(), "java") != []:  # None: no /proc to tell, so take it as alive
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)
    return False


def root_cause(error: BaseException | str) -> str:
    """The innermost `Caused by` of a Java exception's text (py4j's, or a stack trace the REST
    API sent), else its first line; in one line of 300 characters at most."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip() and ln[0] != "\t"]
    causes = [ln.removeprefix("Caused by: ") for ln in lines if ln.startswith("Caused by")]
    if causes:
        return causes[-1][:300]
    if lines:
        return lines[0][:300]
    return type(error).__name__ if isinstance(error, BaseException) else "unknown"
