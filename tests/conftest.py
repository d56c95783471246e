"""Session fixtures for a real Kafka broker, factory fixtures for topics and a stand-in API."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from isspanel.broker.local import LocalBroker
from isspanel.broker.topics import fresh_topics
from isspanel.settings import Settings
from tests.tle_helpers import days_ago, write_tle

logging.getLogger("kafka").setLevel(logging.WARNING)

pytest_plugins = ("tests.pages",)  # the browser fixtures: browser, page_pool, open_page


# The suite starts dozens of short-lived JVMs (brokers, Flink gateways, Flink clusters) on two
# cores: the C1 compiler alone and the serial GC start each on about half the CPU (a broker
# 4.6-5.2 -> 2.6 CPU-s, a PyFlink gateway with a small job 8.5 -> 4.8 CPU-s). Their own
# variables, so a developer's setting wins: PyFlink's gateway and Flink's daemon scripts read
# JVM_ARGS, LocalBroker reads KAFKA_JVM_PERFORMANCE_OPTS (as Kafka's scripts do).
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# Flink's exactly-once sinks commit with each checkpoint: tests wait for 3 s, not 10 s.
TEST_ENV = {
    "JVM_ARGS": QUICK_JVM,
    "KAFKA_JVM_PERFORMANCE_OPTS": QUICK_JVM,
    "ISS_FLINK_CHECKPOINT_S": "3",
}


def pytest_configure(config) -> None:
    for var, value in TEST_ENV.items():
        os.environ.setdefault(var, value)  # the workers and every child process inherit them


def pytest_sessionstart(session) -> None:
    """A SIGTERM (a CI timeout, a plain `kill`) ends the run as Ctrl-C does, fixtures torn
    down: the session's broker and servers stop with it instead of outliving it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupted)
        if hasattr(session.config, "workerinput"):
            _interrupt_when_the_controller_dies()


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _interrupt_when_the_controller_dies() -> None:
    """An xdist worker whose controller is gone (a `kill -9` of the run) ends as Ctrl-C ends it,
    at once. execnet does the same, but only after waiting 5 s for the test to finish on its
    own (a test waiting on a condition rarely does): the session's broker outlived the run 5 s
    longer. A thread blocked on a pidfd: no CPU until the controller exits."""
    try:
        controller = os.pidfd_open(os.getppid())
    except OSError:  # no pidfd (an old kernel): execnet's own wait still ends the run
        return

    def watch() -> None:
        select.select([controller], [], [])
        logging.getLogger(__name__).warning("the xdist controller has ended: interrupting")
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="controller-watch", daemon=True).start()


# -- no test leaves a log filter behind ---------------------------------------------------------


@pytest.fixture(autouse=True)
def _log_filters_restored():
    """A test that runs a command in-process (``cli.main.main``) sets up its logging, and
    ``logs.quiet_kafka`` filters the root's handlers then: pytest's own, which live for the
    session. The filter demotes kafka-python's records in place, so every later test of the
    worker saw them at DEBUG (test_library_contracts failed after test_settings, fresh-4)."""
    handlers = {h: list(h.filters) for h in logging.getLogger().handlers}
    yield
    for handler, filters in handlers.items():
        for added in [f for f in handler.filters if f not in filters]:
            handler.removeFilter(added)


# -- the longest modules first ---------------------------------------------------------------

# With `--dist loadfile` a module runs whole on one worker, and xdist hands the modules out in
# collection order (`--no-loadscope-reorder`; its default orders them by number of tests, which
# put test_up.py, 6 tests and over a minute and a half, near the end). Longest first, the end of
# the run is short modules that even the two workers out. Measured walls, longest first
# (docs/testing.md); a module not listed keeps its place in the collection after these.
SLOW_FIRST = (
    "tests/dashboard/test_dashboard.py",
    "tests/analytics/test_flink.py",
    "tests/cli/test_up.py",
    "tests/analytics/test_flink_hardening.py",
    "tests/dashboard/test_offline.py",
    "tests/dashboard/test_reconnect.py",
    "tests/dashboard/test_time_travel_page.py",
    "tests/produce/test_producer_outage.py",
    "tests/dashboard/test_dashboard_place.py",
    "tests/dashboard/test_dashboard_cli.py",
    "tests/produce/test_producer.py",
    "tests/cli/test_sql_client.py",
    "tests/test_notebooks.py",
    "tests/produce/test_data_truth.py",
    "tests/broker/test_history.py",
    "tests/test_lifeline.py",
    "tests/broker/test_kafka_broker.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """The modules of SLOW_FIRST first, in its order; a module's own tests keep theirs (the
    sort is stable: test_flink.py's tests build on one another's job run)."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


# -- the `flink` marker, held both ways ------------------------------------------------------

FLINK_MAIN = "org.apache.flink."  # the main class of every Flink JVM: gateway, cluster daemons


def flink_jvms() -> list[int]:
    """The Flink JVMs among this process's descendants (not the session's Kafka broker)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any(arg.startswith(FLINK_MAIN) for arg in child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            pass  # gone meanwhile
    return found


@pytest.fixture(autouse=True)
def flink_marker_holds(request, monkeypatch) -> Iterator[None]:
    """A test marked `flink` starts a Flink JVM (or uses one a fixture started); one that is
    not, cannot: `-m "not flink"` leaves out exactly the tests that need Flink. A test that
    may stop its run before the JVM starts (a race it does not control) says so with
    ``flink(certain=False)``: it must be marked, and is not held to a JVM."""
    marker = request.node.get_closest_marker("flink")
    if marker is None:
        # PyFlink then refuses to launch its gateway JVM, here or in a child process (it says
        # "It's launching the PythonGatewayServer during Python UDF execution ..."): a test
        # that gets this error starts Flink, and needs the marker.
        monkeypatch.setenv("PYFLINK_GATEWAY_DISABLED", "1")
        yield
        return
    if not marker.kwargs.get("certain", True):
        yield
        return
    seen, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not (seen.is_set() or done.wait(0.2)):
            if flink_jvms():
                seen.set()

    watcher = threading.Thread(target=watch, name="flink-marker", daemon=True)
    if flink_jvms():
        seen.set()
    watcher.start()
    yield
    done.set()
    watcher.join()
    if not seen.is_set():
        pytest.fail("marked `flink`, but no Flink JVM ran during the test: remove the marker")


REFUSED = "launching the PythonGatewayServer during Python UDF execution"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Say what PyFlink's refusal above means, where a test failed of it."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and REFUSED in str(report.longrepr):
        report.sections.append(
            ("flink marker", "this test starts a Flink JVM: mark it `pytest.mark.flink`")
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_tle(folder: Path) -> Path:
    """A TLE a day old in ``folder``: readouts and passes for now work on any date (the
    bundled TLE's age varies with the day the suite runs and with each refresh)."""
    return write_tle(folder / "tests-iss.tle", days_ago(1))


def broker_settings(home: Path, **overrides) -> Settings:
    """Settings for a private broker: its own folder and free ports, the project's jars,
    a TLE a day old."""
    return Settings.from_env(
        environ={k: v for k, v in os.environ.items() if k != "ISS_KAFKA_BOOTSTRAP"},
        home=home,
        kafka={"bootstrap": "", "port": free_port(), "controller_port": free_port()},
        tle={"path": fresh_tle(home)},
    ).replace(**overrides)


def kafka_env(settings: Settings) -> dict[str, str]:
    """The ISS_* variables that point a child process at ``settings``' broker and topics,
    and at its TLE (a dashboard's readouts and passes, a producer's SGP4)."""
    return {
        "ISS_KAFKA_BOOTSTRAP": settings.kafka.bootstrap_servers,
        "ISS_TOPICS_LOCATION": settings.topics.location,
        "ISS_TOPICS_SPEED": settings.topics.speed,
        "ISS_TOPICS_STATS": settings.topics.stats,
        "ISS_TOPICS_EVENTS": settings.topics.events,
        "ISS_TLE_PATH": str(settings.tle.path),
    }


@pytest.fixture(scope="session")
def kafka_settings(tmp_path_factory) -> Iterator[Settings]:
    """A real broker for the session, or the cluster ISS_KAFKA_BOOTSTRAP names; a TLE a day
    old either way (a test that needs another makes its own: tests/tle_helpers.py)."""
    if os.environ.get("ISS_KAFKA_BOOTSTRAP"):
        yield Settings.from_env(tle={"path": fresh_tle(tmp_path_factory.mktemp("tle"))})
        return
    settings = broker_settings(tmp_path_factory.mktemp("isspanel-home"))
    broker = LocalBroker(settings, tied=True)  # stops even if the run is killed (-9)
    broker.start()
    try:
        yield settings
    finally:
        broker.stop()


@pytest.fixture
def topic_factory(kafka_settings) -> Callable[..., Settings]:
    """Make settings whose pipeline topics are fresh and unique to the test."""

    def make(**overrides) -> Settings:
        return fresh_topics(kafka_settings, **overrides)

    return make


@pytest.fixture
def iss_settings(topic_factory) -> Settings:
    return topic_factory()


def read_topic(
    settings: Settings, topic: str, expected: int, timeout_s: float = 30.0
) -> list[dict]:
    """Every JSON value of a topic from the start, once at least ``expected`` have arrived:
    read to the end offsets of that moment, so a test asking for the exact count still sees
    any extra (it never stops at ``expected``). Waits up to ``timeout_s`` for ``expected``."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False
    )
    partitions = consumer.partitions_for_topic(topic) or {0}
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    values: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for message in batch:
                    try:
                        values.append(json.loads(message.value))
                    except (json.JSONDecodeError, TypeError):
                        values.append({"_raw": message.value})
            if len(values) >= expected:
                ends = consumer.end_offsets(tps)
                if all(consumer.position(tp) >= ends[tp] for tp in tps):
                    break
    finally:
        consumer.close()
    return values


def publish(settings: Settings, records) -> None:
    """Publish records as the producer does (its Publisher: keyed, JSON, delivered)."""
    from isspanel.produce.publisher import Publisher

    publisher = Publisher(settings)
    for record in records:
        publisher.accept(record)
    publisher.close()


def produce_raw(settings: Settings, topic: str, values: list[bytes | dict]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    try:
        for value in values:
            if isinstance(value, dict):
                value = json.dumps(value).encode()
            producer.send(topic, key=b"25544", value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


# -- a real HTTP server standing in for api.open-notify.org ---------------------------------


class FakeApi:
    """Answers iss-now.json from a script of responses; records concurrency."""

    def __init__(self):
        self.script: list[dict] = []
        self.default: dict | None = None
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        self.user_agents: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with api.lock:
                    api.in_flight += 1
                    api.requests += 1
                    api.max_in_flight = max(api.max_in_flight, api.in_flight)
                    api.user_agents.append(self.headers.get("User-Agent", ""))
                    answer = api.script.pop(0) if api.script else api.default
                try:
                    answer = answer or {"status": 503, "body": "no answer scripted"}
                    time.sleep(answer.get("delay", 0))
                    body = answer.get("body", "")
                    if not isinstance(body, str | bytes):
                        body = json.dumps(body)
                    body = body.encode() if isinstance(body, str) else body
                    pad = answer.get("pad", 0)  # spaces streamed before the body, never held
                    self.send_response(answer.get("status", 200))
                    self.send_header("Content-Type", answer.get("type", "application/json"))
                    if answer.get("length", True):  # False: the body ends when the socket does
                        self.send_header("Content-Length", str(pad + len(body)))
                    for k, v in answer.get("headers", {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    for sent in range(0, pad, 1 << 16):
                        self.wfile.write(b" " * min(1 << 16, pad - sent))
                    if answer.get("drip"):  # one byte every `drip` seconds
                        for i in range(len(body)):
                            time.sleep(answer["drip"])
                            self.wfile.write(body[i : i + 1])
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of slow answers
                finally:
                    with api.lock:
                        api.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/iss-now.json"
        # shutdown() waits for serve_forever to look at its flag, once per poll interval: at
        # the default 0.5 s that was half a second of every test's teardown.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def good_answer(ts: int, lat: float, lon: float) -> dict:
    return {
        "body": {
            "message": "success",
            "timestamp": ts,
            "iss_position": {"latitude": f"{lat:.4f}", "longitude": f"{lon:.4f}"},
        }
    }


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    yield api
    api.close()


@pytest.fixture
def hub_factory():
    """Start a StreamHub with its consumer thread over ``settings``; all stopped after."""
    from isspanel.dashboard.consumer import HubConsumer
    from isspanel.dashboard.hub import StreamHub

    consumers = []

    def make(settings) -> StreamHub:
        consumer = HubConsumer(StreamHub(settings))
        consumer.start()
        consumers.append(consumer)
        return consumer.hub

    yield make
    for consumer in consumers:
        consumer.stop()
