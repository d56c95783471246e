"""Tripwires for the kafka-python (3.0.12) workarounds: each test fails once upstream changes
what the workaround relies on, and says which workaround to revisit.

- isspanel/logs.py demotes kafka-python's per-attempt connection noise to DEBUG by message
  text and by the exceptions in a record: the texts must still be kafka-python's own, and what
  it logs when a broker is away, refuses, hangs up or stays silent must all be demoted.
- isspanel/broker/history.py never pauses a partition: a resumed one may never be fetched
  again. The last test reproduces that; once it fails, pause()/resume() work again.

These stand in for an upper bound on kafka-python in pyproject.toml: an upgrade is free, and
these tests tell what it changed.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import logging
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import kafka
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from kafka.net.selector import NetworkSelector
from kafka.net.transport import KafkaTCPTransport

from isspanel import logs
from tests.conftest import free_port

KAFKA_PYTHON = f"kafka-python {kafka.__version__}"
LEVELS = {"warning", "warn", "error", "exception", "critical"}


# -- the log filter's texts are kafka-python's --------------------------------------------------


def logged_templates(module: str) -> list[str]:
    """The message templates that ``module`` of kafka-python logs at WARNING or above; an
    f-string's up to its first placeholder."""
    tree = ast.parse(source(module))
    templates = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LEVELS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "log"
            and node.args
        ):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            templates.append(first.value)
        elif isinstance(first, ast.JoinedStr):
            text = ""
            for part in first.values:
                if not isinstance(part, ast.Constant):
                    break
                text += part.value
            templates.append(text)
    return templates


def source(module: str) -> str:
    return Path(importlib.util.find_spec(module).origin).read_text()


KEYED_TEXTS = [
    *logs.CONNECTION_MESSAGES,
    ("kafka.net.transport", "%s: Error receiving network"),  # _about_connections, with "(closed)"
    ("kafka.net.selector", "Unhandled exception in task"),  # with fd -1: a closed socket
]


@pytest.mark.parametrize(("logger", "start"), KEYED_TEXTS, ids=[t for _l, t in KEYED_TEXTS])
def test_the_filters_texts_are_still_logged_by_kafka_python(logger, start):
    assert "logging.getLogger(__name__)" in source(logger), f"{logger} logs under another name"
    templates = logged_templates(logger)
    assert any(t.startswith(start) for t in templates), (
        f"{KAFKA_PYTHON} no longer logs {start!r} from {logger} at WARNING/ERROR: that entry in "
        f"isspanel/logs.py is dead. What it logs there now: {templates}"
    )


def test_a_closed_transport_still_says_so():
    """The filter takes a failed read for noise only when the transport names itself closed."""
    transport = KafkaTCPTransport(None, None)
    assert not str(transport).endswith("(closed)>"), str(transport)
    transport.close()
    assert str(transport).endswith("(closed)>"), (
        f"{KAFKA_PYTHON}: a closed transport reads {str(transport)!r}; isspanel/logs.py "
        "(_about_connections) keys on '(closed)>'"
    )


def test_a_retried_produce_request_still_names_its_error_by_class_name():
    """BROKER_AWAY holds class names: kafka-python's sender logs a retried produce request with
    the error's ``__name__`` as an argument (a record that names no exception object)."""
    retries = [
        node
        for node in ast.walk(ast.parse(source("kafka.producer.sender")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "warning"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and str(node.args[0].value).startswith("%s: Got error produce response")
    ]
    assert retries, f"{KAFKA_PYTHON}'s sender logs no retried produce request at WARNING"
    for call in retries:
        assert "error_cls.__name__" in [ast.unparse(a) for a in call.args[1:]], ast.unparse(call)
    for name in logs.BROKER_AWAY:
        assert hasattr(kafka.errors, name) or isinstance(getattr(builtins, name, None), type), (
            f"{KAFKA_PYTHON} has no {name}: isspanel/logs.py BROKER_AWAY names a class it "
            "no longer raises"
        )


def test_a_read_registered_on_a_closed_socket_is_demoted():
    """kafka-python's selector logs the race of a close with its I/O thread's read (the fd is
    -1 by then) with a traceback (fresh-9); the filter demotes it, and only it."""

    def record(error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:
            exc_info = sys.exc_info()
        return logging.LogRecord(
            "kafka.net.selector", logging.ERROR, __file__, 1,
            "Unhandled exception in task %s:", ("<Task>",), exc_info,
        )  # fmt: skip

    noise = logs.KafkaConnectionNoise(verbose=False)
    assert not noise.filter(record(ValueError("Invalid file descriptor: -1")))
    assert noise.filter(record(ValueError("something else")))


def test_a_metadata_request_cancelled_by_a_closed_connection_is_demoted():
    """kafka.cluster logs the exception of a failed metadata refresh at ERROR; a request cut
    off by its connection closing fails with Cancelled (a broker stopped mid-request)."""
    assert any(
        t.startswith("Metadata refresh: failed %s") for t in logged_templates("kafka.cluster")
    )
    record = logging.LogRecord(
        "kafka.cluster", logging.ERROR, __file__, 1, "Metadata refresh: failed %s",
        (kafka.errors.Cancelled(),), None,
    )  # fmt: skip
    assert not logs.KafkaConnectionNoise().filter(record) and record.levelno == logging.DEBUG


# -- what kafka-python logs while a broker is away is all demoted -------------------------------


@contextmanager
def peer(behaviour: str) -> Iterator[int]:
    """A port whose listener refuses, hangs up after the first request, resets the
    connection, or never answers; yields the port."""
    if behaviour == "refuses":
        yield free_port()
        return
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if behaviour == "silent":
                continue
            try:
                conn.recv(65536)  # the request read: the close is a clean FIN, not a reset
            except OSError:
                pass
            if behaviour == "resets":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in held:
            conn.close()


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("kafka"):
            self.records.append(record)


# What each kind of peer makes kafka-python log, among other records (the template's start).
TELLS = {
    "refuses": "Bootstrap %s not ready",
    "hangs-up": "%s: socket disconnected",
    "resets": "%s: Error receiving network",
    "silent": "%s: Request timed out after",
}


@pytest.fixture(scope="module")
def outages() -> dict[str, tuple[BaseException | None, list[logging.LogRecord]]]:
    """A real KafkaProducer bootstraps against each kind of peer, all four at once (each
    waits out its 2 s bootstrap): by behaviour, what the constructor raised,
    and the WARNING and ERROR records kafka-python logged meanwhile (all four's: the bootstrap
    runs, and logs, in the thread that constructs the producer, named after its peer)."""
    handler = Records()
    root = logging.getLogger()
    raised: dict[str, BaseException | None] = {}
    ports: dict[str, int] = {}

    def bootstrap(behaviour: str, port: int) -> None:
        try:
            KafkaProducer(
                bootstrap_servers=f"127.0.0.1:{port}",
                bootstrap_timeout_ms=2000,
                request_timeout_ms=500,
            )
        except BaseException as exc:  # judged in the test, with the case that raised it
            raised[behaviour] = exc
        else:
            raised[behaviour] = None

    root.addHandler(handler)
    try:
        with ExitStack() as stack:
            for behaviour in TELLS:
                ports[behaviour] = stack.enter_context(peer(behaviour))
            threads = [
                threading.Thread(target=bootstrap, args=(b, ports[b]), name=f"bootstrap-{b}")
                for b in TELLS
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        root.removeHandler(handler)
    return {b: (raised[b], handler.records) for b in TELLS}


def about(record: logging.LogRecord, behaviour: str) -> bool:
    """Whether ``record`` may be about ``behaviour``'s peer: logged by its producer's thread,
    or by none of the four (then it counts for each)."""
    return record.threadName == f"bootstrap-{behaviour}" or not any(
        record.threadName == f"bootstrap-{b}" for b in TELLS
    )


@pytest.mark.parametrize("behaviour", list(TELLS))
def test_kafka_pythons_outage_noise_is_all_demoted(behaviour, outages):
    """A real KafkaProducer bootstraps against a peer that is no broker: every WARNING or
    ERROR kafka-python logs is one the filter demotes, and the texts it keys on still come."""
    exc, logged = outages[behaviour]
    assert isinstance(exc, KafkaError), exc
    records = [r for r in logged if about(r, behaviour)]
    assert records, (
        f"{KAFKA_PYTHON} logs nothing at WARNING/ERROR while a broker {behaviour}: "
        "isspanel/logs.py's KafkaConnectionNoise may have nothing left to do"
    )
    mine = [r for r in records if r.threadName == f"bootstrap-{behaviour}"]
    assert any(str(r.msg).startswith(TELLS[behaviour]) for r in mine), [r.msg for r in mine]
    noise = logs.KafkaConnectionNoise(verbose=False)
    shown = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in records if noise.filter(r)]
    assert not shown, f"{KAFKA_PYTHON} logs outage noise the filter lets through: {shown}"


def test_kafka_pythons_slow_step_warning_is_demoted():
    """kafka-python's I/O loop still warns of a step over its 0.1-s threshold with the text the
    filter keys on, and the filter demotes it (a full run at load ~40 showed it to a test)."""
    handler = Records()
    logging.getLogger().addHandler(handler)
    selector = NetworkSelector()

    async def slow() -> int:
        time.sleep(0.15)  # the step that blocks the loop: what a starved thread looks like
        return 1

    try:
        assert selector.run(slow) == 1
    finally:
        selector.close()
        logging.getLogger().removeHandler(handler)
    # Its own warning: a Kafka client another test of this worker left behind may log too.
    [record] = [r for r in handler.records if logs.SLOW_STEP in r.getMessage()]
    assert record.name == "kafka.net.selector"
    assert not logs.KafkaConnectionNoise(verbose=False).filter(record)
    assert record.levelname == "DEBUG"


# -- a resumed partition is never fetched again ------------------------------------------------


def test_kafka_python_still_never_fetches_a_resumed_partition_again(kafka_settings):
    """Fails once kafka-python fixes it: then isspanel/broker/history.py may pause() again.

    Two partitions of 20 records. A poll of one record leaves the rest of partition X's fetch
    in line; X is paused, and Y read to its end. kafka-python parks X's records when X is
    paused, but after resume() restores them only when no other partition's (drained) records
    hold the in-line slot, and never fetches a partition whose records are parked: X is lost.
    """
    bootstrap = kafka_settings.kafka.bootstrap_servers
    topic = f"contract-pause-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")

    def send(partition: int, count: int) -> None:
        for i in range(count):
            producer.send(topic, value=b"%d" % i, partition=partition)
        producer.flush(30)

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    try:
        send(0, 20)
        send(1, 20)
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 60
        first = {}
        while not first and time.monotonic() < deadline:
            first = consumer.poll(timeout_ms=200, max_records=1)
        ((x, _),) = first.items()
        y = tps[1 - x.partition]
        consumer.pause(x)
        read = {x: 1, y: 0}

        def read_y_to(offset: int) -> None:
            """Poll until Y's position reaches ``offset``; count what X yields meanwhile."""
            deadline = time.monotonic() + 60
            while consumer.position(y) < offset:
                assert time.monotonic() < deadline, f"Y not read to {offset} in 60 s"
                for tp, messages in consumer.poll(timeout_ms=200).items():
                    read[tp] += len(messages)

        read_y_to(20)
        consumer.resume(x)
        assert consumer.paused() == set()
        # Each new record of Y comes in a fetch made after resume(); a fetchable X rides
        # along in the same request. Two rounds: a response in flight at resume() is spent.
        for end in (21, 22):
            send(y.partition, 1)
            read_y_to(end)
        assert read[y] == 22
        assert read[x] == 1, (
            f"{KAFKA_PYTHON} fetches a resumed partition again ({read[x]} of 20 records read): "
            "isspanel/broker/history.py (_assign) may use pause()/resume() again"
        )
        assert consumer.position(x) == 1  # not at its end: the records are there, unread
    finally:
        consumer.close()
        producer.close()


# -- a client whose first contact fails leaves its I/O thread -----------------------------------


def test_kafka_python_still_leaves_the_io_thread_of_an_admin_client_that_cannot_start():
    """isspanel/broker/clients.py closes such a client's network client for it, through the
    public ``kafka_client`` setting; once this fails, upstream stops the thread itself."""
    for cls in (KafkaAdminClient, KafkaConsumer, KafkaProducer):
        assert callable(cls.DEFAULT_CONFIG["kafka_client"])
    name = f"contract-{uuid.uuid4().hex[:6]}"
    with pytest.raises(KafkaError):
        KafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{free_port()}",
            client_id=name,
            bootstrap_timeout_ms=300,
        )
    leaked = [t for t in threading.enumerate() if t.name == f"kafka-io-{name}"]
    assert leaked, "kafka-python now stops the thread: isspanel/broker/clients.py can go"
