"""Launch a real single-node KRaft Kafka broker from the jars Maven resolved.

Storage is formatted once and keeps its cluster id; the broker runs in its own
process group so `stop` can leave nothing behind. A ``tied`` broker also ends with the process
that started it, however that process ends (isspanel.lifeline): tests and `isspanel up` tie
theirs; `isspanel kafka start` does not, its broker outlives the command.
"""

from __future__ import annotations

import base64
import logging
import os
import shlex
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka.errors import KafkaError

from isspanel import lifeline
from isspanel.broker import clients
from isspanel.processes import alive, signal_group
from isspanel.settings import Settings

log = logging.getLogger(__name__)

# The broker's GC, unless KAFKA_JVM_PERFORMANCE_OPTS says otherwise (as kafka-run-class.sh).
GC_FLAGS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


class BrokerError(RuntimeError):
    """The local broker could not be started, reached or stopped."""


@dataclass(frozen=True)
class BrokerPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def pid(self) -> Path:
        return self.root / "broker.pid"

    @property
    def cluster_id(self) -> Path:
        return self.root / "cluster.id"

    @property
    def console(self) -> Path:
        return self.logs / "console.log"


class LocalBroker:
    """start / stop / status of the broker described by ``settings``; a ``tied`` one ends
    with this process too."""

    def __init__(self, settings: Settings, tied: bool = False):
        self.settings = settings
        self.paths = BrokerPaths(Path(settings.home) / "kafka")
        self.tied = tied
        self._tied_pid: int | None = None

    # -- configuration ---------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"{self.settings.kafka.host}:{self.settings.kafka.port}"

    def classpath(self) -> str:
        jars = Path(self.settings.jars_dir) / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"no Kafka jars in {jars}: run `make jars` (mvn package) first")
        return str(jars / "*")

    def server_properties(self) -> str:
        s = self.settings
        host = s.kafka.host
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{host}:{s.kafka.controller_port}",
                f"listeners=PLAINTEXT://{host}:{s.kafka.port},CONTROLLER://{host}:{s.kafka.controller_port}",
                f"advertised.listeners=PLAINTEXT://{host}:{s.kafka.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.paths.data}",
                # One node: every internal topic has a single replica.
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # The node is its own controller: restarted after a crash (kill -9), it is
                # refused (DUPLICATE_BROKER_REGISTRATION) until the lease of its previous life
                # runs out, 9 s by default: the broker was up in 12 s instead of 3. A lease of
                # 3 s, renewed every 0.5 s, still outlasts a stall of six heartbeats.
                "broker.heartbeat.interval.ms=500",
                "broker.session.timeout.ms=3000",
                # Topics are created explicitly, with partitions and retention (topics.py).
                "auto.create.topics.enable=false",
                "num.partitions=1",
                f"log.retention.ms={s.topics.retention_ms}",
                "log.segment.bytes=67108864",
                "",
            ]
        )

    def _java_command(self, main: str, *args: str) -> list[str]:
        heap = self.settings.kafka.heap
        # As Kafka's own kafka-run-class.sh: KAFKA_JVM_PERFORMANCE_OPTS replaces the GC flags,
        # KAFKA_OPTS adds to them (the test suite starts brokers with a quicker-starting JIT).
        performance = os.environ.get("KAFKA_JVM_PERFORMANCE_OPTS")
        return [
            self.settings.java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            *(shlex.split(performance) if performance else GC_FLAGS),
            *shlex.split(os.environ.get("KAFKA_OPTS", "")),
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.paths.logs}",
            f"-Dlog4j2.configurationFile={self.paths.log4j}",
            "-cp",
            self.classpath(),
            main,
            *args,
        ]

    def _write_config(self) -> None:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        self.paths.data.mkdir(parents=True, exist_ok=True)
        self.paths.config.write_text(self.server_properties())
        self.paths.log4j.write_text(LOG4J2_PROPERTIES)

    def _format_storage(self) -> None:
        if (self.paths.data / "meta.properties").exists():
            return
        if not self.paths.cluster_id.exists():
            cid = "-"
            while cid.startswith("-"):  # as Kafka's own Uuid.randomUuid: "-" reads as a flag
                cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.paths.cluster_id.write_text(cid + "\n")
        cid = self.paths.cluster_id.read_text().strip()
        log.info("formatting KRaft storage in %s (cluster id %s)", self.paths.data, cid)
        cmd = self._java_command(
            "kafka.tools.StorageTool", "format", f"--cluster-id={cid}", "-c", str(self.paths.config)
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise BrokerError(f"storage format failed:\n{result.stdout}\n{result.stderr}")

    # -- process ---------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.paths.pid.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid) else None

    def answers(self, timeout_s: float = 3.0) -> bool:
        """True when the broker answers a metadata request."""
        return cluster_answers(self.bootstrap, timeout_s)

    def start(self, timeout_s: float = 90.0) -> str:
        """Start the broker (if not running) and return once it answers metadata."""
        if self.pid() is not None and self.answers():
            log.info("Kafka broker already running (pid %s) on %s", self.pid(), self.bootstrap)
            return self.bootstrap
        self._write_config()
        self._format_storage()
        started = time.monotonic()
        self._untie()  # a broker this one started before, gone without stop()
        command = self._java_command("kafka.Kafka", str(self.paths.config))
        with open(self.paths.console, "ab") as console:
            streams = {"stdout": console, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
            if self.tied:
                proc = lifeline.popen(command, **streams)  # a session of its own, tied
                self._tied_pid = proc.pid
            else:
                # Own process group: stop() signals it whole.
                proc = subprocess.Popen(command, start_new_session=True, **streams)
        self.paths.pid.write_text(f"{proc.pid}\n")
        log.info("starting Kafka broker (pid %s), logs in %s", proc.pid, self.paths.logs)
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._untie()
                raise BrokerError(
                    f"Kafka broker exited with {proc.returncode}; last log lines:\n{self.tail()}"
                )
            if self.answers(timeout_s=2.0):
                log.info(
                    "Kafka broker listening on %s (controller %s:%s), up in %.1f s",
                    self.bootstrap,
                    self.settings.kafka.host,
                    self.settings.kafka.controller_port,
                    time.monotonic() - started,
                )
                return self.bootstrap
            time.sleep(0.25)
        self.stop()
        raise BrokerError(f"Kafka broker did not answer within {timeout_s:.0f} s:\n{self.tail()}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL); True if one was running."""
        pid = self.pid()
        if pid is None:
            self._untie()
            self.paths.pid.unlink(missing_ok=True)
            return False
        log.info("stopping Kafka broker (pid %s)", pid)
        signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            log.warning("broker did not stop in %.0f s: killing it", timeout_s)
            if signal_group(pid, signal.SIGKILL):  # not when it is someone else's by now
                while alive(pid):
                    time.sleep(0.05)
        self._untie()
        self.paths.pid.unlink(missing_ok=True)
        return True

    def _untie(self) -> None:
        # Once the broker is gone its group id may be reused: the watchdog must not signal it.
        if self._tied_pid is not None:
            lifeline.untie(self._tied_pid)
            self._tied_pid = None

    def status(self) -> dict:
        pid = self.pid()
        return {
            "bootstrap": self.bootstrap,
            "pid": pid,
            "running": pid is not None,
            "answers": pid is not None and self.answers(),
            "data": str(self.paths.data),
        }

    def tail(self, lines: int = 20) -> str:
        text = ""
        for f in (self.paths.console, self.paths.logs / "server.log"):
            if f.exists():
                text += "\n".join(f.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text


def cluster_answers(bootstrap: str, timeout_s: float = 3.0) -> bool:
    # A plain TCP probe first: kafka-python backs off for seconds after a refused connection.
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError:
        return False
    try:
        admin = clients.admin_client(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="isspanel-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
