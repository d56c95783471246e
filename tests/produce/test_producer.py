"""The producer against a real broker and a real HTTP stand-in for the live API."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from kafka.errors import KafkaError

from isspanel import lifeline
from isspanel.broker.local import LocalBroker
from isspanel.broker.topics import ensure_topics
from isspanel.produce.producer import IssProducer
from isspanel.produce.publisher import Publisher
from isspanel.record import IssRecord
from isspanel.settings import PROJECT_ROOT, Settings
from isspanel.sources import make_source
from isspanel.sources.sgp4_model import Sgp4Source
from tests.browser import wait_until
from tests.conftest import broker_settings, free_port, good_answer, read_topic


def test_exactly_the_valid_answers_reach_the_topic_in_order(iss_settings, fake_api):
    now = int(time.time())
    good = [good_answer(now - 50 + i * 10, 10.0 + i, -170.0 + i) for i in range(5)]
    fake_api.script = [
        good[0],
        {"status": 500, "body": "internal error"},
        good[1],
        {"status": 429, "headers": {"Retry-After": "1"}},
        {"body": '{"message": "success", "iss_pos'},
        good[2],
        {"body": "<html><body>maintenance</body></html>", "type": "text/html"},
        {"body": {"message": "failure"}},
        good[3],
        {
            "body": {
                "message": "success",
                "timestamp": now,
                "iss_position": {"latitude": "95", "longitude": "0"},
            }
        },
        {
            "body": {
                "message": "success",
                "timestamp": now,
                "iss_position": {"latitude": "1.0", "longitude": "east"},
            }
        },
        good[4],
    ]
    settings = iss_settings.replace(producer={"api_url": fake_api.url, "read_timeout_s": 1.0})
    producer = IssProducer(settings, make_source(settings, "open-notify"))
    # 0.5 s: the fetch deadline is half of it, ample for a local answer on a busy machine.
    stats = producer.run(interval=0.5, max_ticks=len(fake_api.script))

    values = read_topic(settings, settings.topics.location, expected=5)
    assert [v["latitude"] for v in values] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert [v["timestamp"] for v in values] == [now - 50 + i * 10 for i in range(5)]
    assert all(v["source"] == "open-notify" and v["eventTime"].endswith("Z") for v in values)
    # model_km: the live position's distance from SGP4's (an optional field).
    assert set(values[0]) == {
        "timestamp",
        "latitude",
        "longitude",
        "eventTime",
        "source",
        "model_km",
    }
    assert (stats.accepted, stats.delivered, stats.rejected, stats.fetch_errors) == (5, 5, 5, 2)


def test_a_dripping_api_is_cut_off_at_the_deadline_so_ticks_are_not_skipped(iss_settings, fake_api):
    # One byte every 0.05 s: no read times out, yet an answer takes over 5 s. Without a
    # deadline each fetch held every tick meanwhile (the issue: 22 of 24 skipped at
    # --interval 5).
    fake_api.default = {"drip": 0.05, **good_answer(int(time.time()), 1.0, 2.0)}
    settings = iss_settings.replace(producer={"api_url": fake_api.url, "read_timeout_s": 1.0})
    # The default; --interval 1 brings it to 0.5 s: a fetch ends by 0.55 s, before the next tick.
    assert settings.producer.fetch_deadline_s == 15.0
    producer = IssProducer(settings, make_source(settings, "open-notify"))
    stats = producer.run(interval=1.0, max_ticks=5)
    assert stats.skipped <= 1, stats  # 0 expected; one for a stalled machine
    assert stats.fetch_errors == fake_api.requests == stats.ticks - stats.skipped
    assert stats.accepted == 0


def test_accelerated_sgp4_history(iss_settings):
    source = Sgp4Source(iss_settings)
    stats = IssProducer(iss_settings, source).publish_all(source.history(2_000, step_s=1))
    assert stats.delivered == 2_000
    values = read_topic(iss_settings, iss_settings.topics.location, expected=2_000)
    timestamps = [v["timestamp"] for v in values]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == 2_000


def test_a_broker_down_at_start_delays_records_but_loses_none(tmp_path):
    settings = broker_settings(tmp_path / "late")
    publisher = Publisher(settings, max_block_ms=1_000)
    source = Sgp4Source(settings)
    records = list(source.history(20, step_s=60))
    for record in records[:10]:
        publisher.accept(record)  # no broker yet: held in the outbox
    assert publisher.pending == 10
    broker = LocalBroker(settings, tied=True)
    broker.start()
    try:
        ensure_topics(settings)
        for record in records[10:]:
            publisher.accept(record)
        assert publisher.flush(60)
        publisher.close()
        values = read_topic(settings, settings.topics.location, expected=20)
        assert [v["timestamp"] for v in values] == [r.timestamp for r in records]
    finally:
        broker.stop()


class Clockwork(Sgp4Source):
    """SGP4 positions one second apart, one per fetch: a fast producer with a new moment at
    each tick (a real clock gives one a second: the rest would be skipped as duplicates)."""

    def __init__(self, settings):
        super().__init__(settings)
        self.ts = int(time.time()) - 3600

    def fetch(self):
        self.ts += 1
        return self.position(self.ts)


def test_a_broker_restart_mid_run_loses_no_accepted_record(tmp_path):
    settings = broker_settings(tmp_path / "restart", producer={"interval_s": 0.05})
    broker = LocalBroker(settings, tied=True)
    broker.start()
    try:
        ensure_topics(settings)
        producer = IssProducer(settings, Clockwork(settings))
        producer.publisher.config.update(
            max_block_ms=1_000, delivery_timeout_ms=5_000, request_timeout_ms=2_000
        )
        result = {}
        runner = threading.Thread(target=lambda: result.update(stats=producer.run(count=120)))
        runner.start()
        wait_until(lambda: producer.stats.delivered >= 20, 60, "20 records delivered")
        broker.stop()  # clean shutdown under load
        # Down until the producer has accepted records meanwhile (those must not be lost), or
        # all 120, if the stop took that long (~1 s here: some 15 were accepted during it).
        held = min(producer.stats.accepted + 5, 120)
        wait_until(lambda: producer.stats.accepted >= held, 30, "records accepted meanwhile")
        broker.start()
        runner.join(timeout=120)
        assert not runner.is_alive()
        stats = result["stats"]
        assert stats.accepted == 120 and stats.delivered >= 120
        values = read_topic(
            settings, settings.topics.location, expected=120
        )  # and any resent, to the end
        # A record resent after the restart may be there twice: readers key on timestamp.
        published = {v["timestamp"] for v in values}
        assert len(published) == 120, f"lost {120 - len(published)} record(s)"
    finally:
        broker.stop()


def test_records_name_their_source(iss_settings):
    publisher = Publisher(iss_settings)
    now = int(time.time())
    for source in ("open-notify", "sgp4", "replay"):
        publisher.accept(IssRecord(now, 1.0, 2.0, source))
    publisher.close()
    values = read_topic(iss_settings, iss_settings.topics.location, expected=3)
    assert [v["source"] for v in values] == ["open-notify", "sgp4", "replay"]


def test_topics_give_up_on_a_broker_that_is_down_within_seconds():
    """`isspanel produce` retries this through an outage: each try must leave no thread."""
    before = {t for t in threading.enumerate() if t.name.startswith("kafka-io-")}
    assert Settings().kafka.connect_timeout_s == 5.0  # 1 s here: the test waits it out
    # (kafka-python's own default, which a lost setting would bring back, is 30 s)
    settings = Settings().replace(
        kafka={"bootstrap": f"127.0.0.1:{free_port()}", "connect_timeout_s": 1.0}
    )
    started = time.monotonic()
    with pytest.raises(KafkaError):
        ensure_topics(settings)
    assert time.monotonic() - started < 20
    after = {t for t in threading.enumerate() if t.name.startswith("kafka-io-")}
    assert after - before == set()


def test_sigterm_while_the_topics_are_checked_stops_the_producer_cleanly(tmp_path):
    env = {
        **os.environ,
        "ISS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing there: a 5-s check
        "ISS_HOME": str(tmp_path),
    }
    log_path = tmp_path / "produce.log"
    with open(log_path, "wb") as out:
        proc = lifeline.popen(  # it retries forever: it must end with the test run
            [sys.executable, "-m", "isspanel", "-v", "produce", "--source", "sgp4"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # kafka-python's DEBUG line: the topics are being checked.
        wait_until(lambda: b"Bootstrap" in log_path.read_bytes(), 60, "the topics' check")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    log = log_path.read_text()
    assert "SIGTERM received" in log and "stopped before producing anything" in log
    # It stopped at once, not after waiting out the check (5 s) and its warning.
    assert "could not check topics" not in log
