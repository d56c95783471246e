"""Broker outages, told by the producer itself; its spool across a kill -9. Real brokers."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from isspanel import lifeline, logs
from isspanel.broker.local import LocalBroker
from isspanel.broker.topics import ensure_topics
from isspanel.produce.producer import IssProducer
from isspanel.produce.publisher import Publisher
from isspanel.produce.spool import Spool
from isspanel.record import IssRecord
from isspanel.settings import PROJECT_ROOT
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import broker_settings, free_port, kafka_env, read_topic

ACCEPTED = re.compile(rb"accepted (\S+Z) lat=")


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    pytest.fail(f"waited {timeout_s:g} s for {what}")


def recorded(settings, folder: Path) -> list[str]:
    """Arguments of `isspanel produce` that replay a recorded file, a position a second up to
    now, one every 0.2 s: SGP4 gives one a second (a moment is published once), and a test
    that waits for records the producer accepts waited a second for each."""
    path = folder / "recorded.jsonl"
    records = Sgp4Source(settings).history(3_000, step_s=1)
    path.write_bytes(b"".join(r.to_json() + b"\n" for r in records))
    return ["--source", "replay", "--replay-file", str(path), "--speed", "0", "--interval", "0.2"]


class ProducerProcess:
    """`isspanel produce *args` in a process of its own, its log in a file."""

    def __init__(self, settings, log_path: Path, *args: str, env: dict[str, str] | None = None):
        env = {**os.environ, **kafka_env(settings), "ISS_HOME": str(settings.home), **(env or {})}
        self.log_path = log_path
        with open(log_path, "ab") as out:
            self.proc = lifeline.popen(  # ends with the test run, even a killed one
                [sys.executable, "-m", "isspanel", "produce", *args],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> bytes:
        return self.log_path.read_bytes()

    def accepted(self) -> list[str]:
        return [m.decode() for m in ACCEPTED.findall(self.log)]

    def stop(self, sig=signal.SIGTERM, timeout_s: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout_s)
        lifeline.untie(self.proc.pid)
        return code


@pytest.fixture
def broker(tmp_path):
    """A private broker this test may stop and start."""
    settings = broker_settings(tmp_path / "home")
    broker = LocalBroker(settings, tied=True)
    broker.start()
    ensure_topics(settings)
    yield settings, broker
    broker.stop()


def test_a_broker_outage_is_told_by_the_producer_not_by_kafka_python(broker, tmp_path):
    settings, kafka = broker
    # No ack for 4 s, not the product's 10 s, is an outage here: the test waits that long.
    assert settings.producer.outage_after_s == 10.0
    quick = {"ISS_PRODUCER_OUTAGE_AFTER_S": "4"}
    producer = ProducerProcess(
        settings, tmp_path / "produce.log", *recorded(settings, tmp_path), env=quick
    )
    try:
        wait_for(lambda: len(producer.accepted()) >= 4, 60, "records before the outage")
        kafka.stop()
        wait_for(lambda: b"unreachable" in producer.log, 60, "our line about the outage")
        held = len(producer.accepted())
        wait_for(lambda: len(producer.accepted()) >= held + 4, 30, "records held meanwhile")
        kafka.start()
        wait_for(lambda: b"is back after" in producer.log, 120, "our line about the recovery")
    finally:
        assert producer.stop() == 0
    log = producer.log.decode()
    ours = [line for line in log.splitlines() if "Kafka at" in line]
    assert re.search(
        r"WARNING .*Kafka at \S+ unreachable \(.+\): \d+ record\(s\) held, retrying", ours[0]
    )
    assert re.search(
        r"INFO .*Kafka at \S+ is back after \d+ s: \d+ record\(s\) delivered late", ours[-1]
    )
    assert len([line for line in ours if " unreachable (" in line]) == 1
    # kafka-python's own per-attempt ERRORs (46 in the issue) went to DEBUG; no traceback.
    assert not re.findall(r"(ERROR|WARNING|CRITICAL) +kafka", log), log
    assert "Traceback" not in log
    accepted = producer.accepted()
    values = read_topic(settings, settings.topics.location, expected=len(accepted), timeout_s=30)
    assert {v["eventTime"] for v in values} == set(accepted)
    assert len(values) >= len(accepted)


class Clock:
    """Monotonic time that a test moves on: the real clock plus the time skipped."""

    def __init__(self):
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped


def test_an_outage_is_told_when_it_starts_then_every_minute_then_when_it_ends(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="isspanel")
    settings = broker_settings(tmp_path / "home")
    publisher = Publisher(settings, bootstrap_timeout_ms=1_000, max_block_ms=1_000)
    publisher.clock = clock = Clock()  # what the outage lines measure: moved on, not waited
    records = list(Sgp4Source(settings).history(6, step_s=60))
    for record in records[:3]:
        publisher.accept(record)  # no broker yet

    def told() -> list[str]:
        return [r.getMessage() for r in caplog.records if "Kafka at" in r.getMessage()]

    # The first connection attempt fails (a real second): the outage starts, told once.
    wait_for(lambda: publisher.drain() or told(), 30, "the line about the outage")
    # Then 200 s pass, 20 s per drain: a reminder at 60, 120 and 180 s, none in between.
    for _ in range(10):
        clock.skipped += 20.0
        publisher.drain()
    ours = told()
    assert re.fullmatch(r"Kafka at \S+ unreachable \(\w+\): 3 record\(s\) held, retrying", ours[0])
    reminders = [m for m in ours if "still unreachable" in m]
    assert len(reminders) == 3, ours
    assert [int(re.search(r"after (\d+) s", m)[1]) // 60 for m in reminders] == [1, 2, 3]
    assert all(m.endswith("3 record(s) held, retrying") for m in reminders)
    broker = LocalBroker(settings, tied=True)
    broker.start()
    try:
        ensure_topics(settings)
        for record in records[3:]:
            publisher.accept(record)
        assert publisher.flush(60)
        ours = [r.getMessage() for r in caplog.records if "Kafka at" in r.getMessage()]
        assert re.fullmatch(
            r"Kafka at \S+ is back after \d+ s: 6 record\(s\) delivered late", ours[-1]
        )
        publisher.close()
        values = read_topic(settings, settings.topics.location, expected=6)
        assert [v["timestamp"] for v in values] == [r.timestamp for r in records]
    finally:
        broker.stop()


def test_kafka_pythons_connection_errors_go_to_debug_other_errors_stay(tmp_path):
    """A real KafkaProducer against a port nothing listens on: what it logs meets the filter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logs.quiet_kafka(verbose=False, handlers=[handler])
    root, kafka = logging.getLogger(), logging.getLogger("kafka")
    root.addHandler(handler)
    kafka.setLevel(logging.WARNING)
    try:
        with pytest.raises(KafkaError):
            KafkaProducer(bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=1500)
        assert "kafka" not in out.getvalue()
        logs.quiet_kafka(verbose=True, handlers=[handler])  # -v
        with pytest.raises(KafkaError):
            KafkaProducer(bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=1500)
        shown = out.getvalue().splitlines()
        assert shown and all(line.startswith("DEBUG kafka.") for line in shown), shown
        assert any("ECONNREFUSED" in line for line in shown)
        logging.getLogger("kafka.cluster").error("Topic %s not found in cluster metadata", "x")
        assert (
            out.getvalue().splitlines()[-1]
            == "ERROR kafka.cluster: Topic x not found in cluster metadata"
        )
    finally:
        root.removeHandler(handler)


def test_kill_9_with_the_broker_down_loses_no_accepted_record(broker, tmp_path):
    settings, kafka = broker
    replay = recorded(settings, tmp_path)
    first = ProducerProcess(settings, tmp_path / "first.log", *replay)
    wait_for(lambda: len(first.accepted()) >= 3, 60, "records before the outage")
    kafka.stop()
    before = len(first.accepted())
    wait_for(lambda: len(first.accepted()) >= before + 6, 30, "records accepted, held")
    first.stop(signal.SIGKILL)
    spool = settings.home / "spool" / f"{settings.topics.location}.jsonl"
    lines = spool.read_bytes().splitlines()
    assert len(lines) >= 6
    # What a crash mid-write and a bad disk block leave: both are skipped, the rest replayed.
    spool.write_bytes(b"\n".join([*lines[:2], b"\x00\x00garbage", *lines[2:]]) + b'\n{"times')
    kafka.start()
    # The same file again: what the first run published is older than the topic's newest.
    second = ProducerProcess(settings, tmp_path / "second.log", *replay, "--count", "2")
    assert second.proc.wait(120) == 0, second.log.decode()
    log = second.log.decode()
    assert f"{len(lines)} record(s) left in {spool} are sent first" in log
    assert f"{spool}:{len(lines) + 2} skipped: torn last line" in log
    assert f"{spool}:3 skipped: not JSON" in log
    accepted = first.accepted() + second.accepted()
    values = read_topic(settings, settings.topics.location, expected=len(accepted), timeout_s=30)
    # Every record accepted before the kill is on the topic (a replay may repeat one).
    assert set(first.accepted()) <= {v["eventTime"] for v in values}
    assert {v["eventTime"] for v in values} == set(accepted)
    assert not spool.exists()  # all delivered: nothing left for a next start


def test_a_spooled_record_already_on_the_topic_is_not_sent_again(iss_settings, caplog):
    """A producer killed between the broker's ack and its spool tidy leaves an acked record in
    the spool. The next start reads the topic's tail and drops what is at or before its newest
    timestamp. (A kill -9 at that moment is hard to hit: the test builds the state it leaves.)"""
    caplog.set_level(logging.INFO, logger="isspanel")
    source = Sgp4Source(iss_settings)
    first, second = source.history(2, step_s=60, end_ts=int(time.time()) - 60)
    publisher = Publisher(iss_settings)
    publisher.accept(first)
    publisher.close()  # acked, the spool removed
    spool = iss_settings.home / "spool" / f"{iss_settings.topics.location}.jsonl"
    assert not spool.exists()
    spool.write_bytes(first.to_json() + b"\n" + second.to_json() + b"\n")  # as the kill left it
    stats = IssProducer(iss_settings, source).publish_all([])
    assert (stats.replayed, stats.delivered) == (1, 1), stats
    assert f"1 record(s) of the spool are on {iss_settings.topics.location} already" in caplog.text
    # Both acked (publish_all closed the publisher): a read to the end offsets sees any third.
    values = read_topic(iss_settings, iss_settings.topics.location, expected=2)
    assert [v["timestamp"] for v in values] == [first.timestamp, second.timestamp]
    assert not spool.exists()


def test_a_spool_replays_good_lines_and_skips_torn_and_corrupt_ones(tmp_path, caplog):
    now = int(time.time())
    good = [IssRecord(now - 60 * i, 1.0 + i, 2.0, "open-notify") for i in range(3)]
    folder = tmp_path / "spool"
    folder.mkdir()
    text = b"\n".join([good[0].to_json(), b"{not json", good[1].to_json(), b"[" * 10_000])
    (folder / "t.jsonl").write_bytes(text + b"\n" + good[2].to_json()[:-3])
    spool = Spool.open(tmp_path, "t")
    assert spool.load() == good[:2]
    assert "t.jsonl:2 skipped: not JSON" in caplog.text
    assert "t.jsonl:4 skipped: JSON nested too deeply" in caplog.text  # not a crash
    assert "t.jsonl:5 skipped: torn last line" in caplog.text
    # Rewritten clean: the next append starts on a line of its own.
    spool.append([good[2].to_json()])
    spool.close(remove=False)
    lines = (folder / "t.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["latitude"] for line in lines] == [1.0, 2.0, 3.0]


def test_a_second_producer_on_the_same_topic_keeps_its_outbox_in_memory(tmp_path, caplog):
    settings = broker_settings(tmp_path / "home")
    first = Publisher(settings, bootstrap_timeout_ms=500)
    second = Publisher(settings, bootstrap_timeout_ms=500)
    assert first.spool is not None and second.spool is None
    assert "held by another producer" in caplog.text
    first.close(timeout_s=0)
    second.close(timeout_s=0)
    third = Publisher(settings, bootstrap_timeout_ms=500)  # the lock went with the first one
    assert third.spool is not None
    third.close(timeout_s=0)


def test_the_spool_holds_a_record_until_its_ack_and_is_removed_at_a_clean_stop(iss_settings):
    publisher = Publisher(iss_settings)
    path = publisher.spool.path
    first, second = Sgp4Source(iss_settings).history(2, step_s=60)
    publisher.accept(first)
    assert json.loads(path.read_bytes())["timestamp"] == first.timestamp  # on disk before Kafka
    assert publisher.flush(30)
    assert path.read_bytes() == b""  # acked: emptied
    publisher.accept(second)
    assert len(path.read_bytes().splitlines()) == 1
    publisher.close()
    assert not path.exists()
    assert [v["timestamp"] for v in read_topic(iss_settings, iss_settings.topics.location, 2)] == [
        first.timestamp,
        second.timestamp,
    ]


def test_a_spool_mostly_acked_is_rewritten_with_what_is_pending(iss_settings, monkeypatch):
    import isspanel.produce.publisher

    records = list(Sgp4Source(iss_settings).history(650, step_s=1))
    publisher = Publisher(iss_settings)
    publisher.drain()
    # Connected, and the connecting thread's own drain done (a drain between the acks below
    # may tidy the spool).
    wait_for(
        lambda: (
            publisher.kafka.producer
            and not any(t.name == "kafka-connect" for t in threading.enumerate())
        ),
        30,
        "a connection",
    )
    # 600 lines and no rewrite yet (the threshold is 100,000): acks that come while the 600
    # are still being sent would otherwise let the sending drain rewrite them already (two
    # fresh clones under load: 111 and 114 lines, not 600).
    publisher.accept_many(records[:600])
    wait_for(lambda: publisher.stats.delivered == 600, 30, "600 acks")
    assert publisher.spool.lines == 600
    monkeypatch.setattr(isspanel.produce.publisher, "REWRITE_LINES", 500)  # 100,000 outside tests
    publisher.accept_many(records[600:])  # 650 lines, at most 50 pending: rewritten
    lines = publisher.spool.path.read_bytes().splitlines()
    assert publisher.spool.lines == len(lines) <= 50
    assert {json.loads(line)["timestamp"] for line in lines} <= {r.timestamp for r in records[600:]}
    publisher.close()
    values = read_topic(iss_settings, iss_settings.topics.location, expected=650)
    assert [v["timestamp"] for v in values] == [r.timestamp for r in records]


def test_noise_stays_hidden_on_every_handler_it_passes():
    """Two handlers (say Bokeh's root handler and ours): the second must not show what the
    first demoted to DEBUG."""
    from kafka.errors import KafkaConnectionError

    first, second = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(first), logging.StreamHandler(second)]
    logs.quiet_kafka(verbose=False, handlers=handlers)
    logger = logging.getLogger("kafka.net.manager")
    for handler in handlers:
        logger.addHandler(handler)
    try:
        logger.error("Connection failed: %s", KafkaConnectionError("111 ECONNREFUSED"))
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    assert first.getvalue() == second.getvalue() == ""


def test_a_read_racing_a_close_on_another_thread_is_noise_if_the_transport_is_closed():
    """kafka-python 3.0.12 logs an AttributeError traceback when a consumer closed on one thread
    races its transport's read (time travel's short-lived readers): noise, once closed."""

    class Transport:
        def __init__(self, closed: bool):
            self.closed = closed

        def __str__(self) -> str:  # as kafka.net.transport.KafkaTCPTransport says itself
            return f"<KafkaTCPTransport [none]{' (closed)' if self.closed else ''}>"

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logs.quiet_kafka(verbose=False, handlers=[handler])
    logger = logging.getLogger("kafka.net.transport")
    logger.addHandler(handler)
    try:
        for closed in (True, False):
            try:
                None.recv(4096)  # what the race does
            except AttributeError:
                logger.exception(
                    "%s: Error receiving network data closing socket", Transport(closed)
                )
    finally:
        logger.removeHandler(handler)
    shown = out.getvalue()
    assert "(closed)" not in shown
    assert "<KafkaTCPTransport [none]>: Error receiving network data" in shown  # a real one stays


def test_an_unawaited_write_to_a_closed_websocket_is_noise():
    """Panel leaves a closed page's write futures unawaited; asyncio logs each one's
    WebSocketClosedError with a traceback once it is collected: DEBUG. Other lost task
    exceptions still show."""
    import asyncio
    import gc

    from tornado.websocket import WebSocketClosedError

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logs.quiet_kafka(verbose=False, handlers=[handler])
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)

    async def fail(exc: Exception) -> None:
        raise exc

    async def never_awaited() -> None:
        errors = (WebSocketClosedError(), ValueError("a real bug"))
        tasks = [asyncio.ensure_future(fail(exc)) for exc in errors]
        # Both have failed once this returns; wait() never asks a task for its exception, so
        # each is still unretrieved, as Panel leaves them.
        await asyncio.wait(tasks)

    try:
        asyncio.run(never_awaited())
        gc.collect()
    finally:
        logger.removeHandler(handler)
    assert out.getvalue().count("Task exception was never retrieved") == 1
    assert "ValueError: a real bug" in out.getvalue()
    assert "WebSocketClosedError" not in out.getvalue()
