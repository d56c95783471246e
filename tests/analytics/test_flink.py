"""The Flink SQL jobs, run for real: `isspanel flink run` on a local mini-cluster.

One job run is shared by the module: on topics that do not exist yet (the run creates them),
three orbits of SGP4 positions 60 s apart with poison messages mixed in, read back from the
speed, stats and events topics; `isspanel flink cancel` stops it with a savepoint and the test
checks that no JVM is left behind. Then two restarts on the same topics, with positions added in
between (impossible ones among them): after the savepoint, and after a SIGTERM to the process
group (the JVM dies with it: no savepoint), a read_committed reader sees each leg, window,
crossing and anomaly exactly once; a Ctrl-C to the group stops the last one with a savepoint.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from argparse import Namespace
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import nbformat
import psutil
import pytest
from jupyter_core.utils import run_sync
from kafka import KafkaAdminClient
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from isspanel import lifeline
from isspanel.analytics import cluster, savepoints
from isspanel.analytics.environment import web_url
from isspanel.analytics.sql import sql_files
from isspanel.broker.topics import fresh_topics, pipeline_topics
from isspanel.cli.flink import flink_command
from isspanel.geo.orbit import great_circle_km
from isspanel.processes import group_members
from isspanel.produce.producer import IssProducer
from isspanel.record import IssRecord, iso_utc
from isspanel.settings import PROJECT_ROOT, Settings, variables
from isspanel.sources.sgp4_model import Sgp4Source
from tests.analytics import flink_expect as expect
from tests.analytics.flink_expect import read_committed
from tests.conftest import free_port, kafka_env, produce_raw
from tests.hostile import CORPUS

pytestmark = pytest.mark.flink

WINDOW_S = 600
STEP_S = 60
COUNT = 281  # 280 minutes (three orbits of ~93 min): 280 legs, 28 whole 10-minute windows
POISON = [
    b"not json at all",
    b'{"timestamp": 17',  # truncated JSON
    {"latitude": 10.0, "longitude": 20.0},  # no timestamp
    {"timestamp": None, "latitude": 10.0, "longitude": 20.0},
    {"latitude": "north", "longitude": 20.0, "timestamp": 1},
    "OUT_OF_RANGE_LAT",
    "OUT_OF_RANGE_LON",
    "MILLISECONDS",  # a valid position whose timestamp is in ms: year ~56000 if read as s
    # And every message of the hostile corpus that all readers must survive (the positions
    # in it that Flink may take as valid are from 2023: late, so dropped).
    *(value for _what, value in CORPUS),
]
START_TIMEOUT_S = 180  # ~25 s on a quiet machine, up to ~110 s with 4 test runs on 2 cores


def settings_env(settings: Settings) -> dict[str, str]:
    """The ISS_* environment that makes a subprocess see ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISS_")}
    for var in variables():
        value = var.of(settings)
        if value is not None:
            env[var.name] = str(value)
    env["ISS_KAFKA_BOOTSTRAP"] = settings.kafka.bootstrap_servers
    return env


def poison(records) -> list:
    ts = records[100].timestamp
    values = []
    for value in POISON:
        if value == "OUT_OF_RANGE_LAT":
            value = {"timestamp": ts, "latitude": 95.0, "longitude": 0.0, "source": "replay"}
        elif value == "OUT_OF_RANGE_LON":
            value = {"timestamp": ts, "latitude": 0.0, "longitude": 200.0, "source": "replay"}
        elif value == "MILLISECONDS":
            value = {"timestamp": ts * 1000, "latitude": 1.0, "longitude": 2.0, "source": "replay"}
        values.append(value)
    return values


def wait_until(condition, timeout_s: float, what: str, proc=None, log_path=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"`isspanel flink run` exited ({proc.returncode}):\n{tail(log_path)}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}\n{tail(log_path)}")


def tail(path, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def running_jobs(settings: Settings) -> list[dict]:
    try:
        return [j for j in cluster.rest_jobs(settings, 2) if j["state"] == "RUNNING"]
    except Exception:
        return []


def topics(settings: Settings) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


LOOPBACK = ("127.", "::1", "::ffff:127.")


def listening(pid: int) -> list[tuple[str, str, int]]:
    """(process, address, port) of every listening TCP socket of ``pid`` and its children."""
    root = psutil.Process(pid)
    found = []
    for process in [root, *root.children(recursive=True)]:
        for conn in process.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                found.append((process.name(), conn.laddr.ip, conn.laddr.port))
    return sorted(found)


def start_run(settings: Settings, log_path, *args: str) -> subprocess.Popen:
    """`isspanel flink run` in a process group of its own (the group a terminal signals), tied
    to the test run: it ends even if pytest is killed, and its gateway JVM exits with it."""
    with open(log_path, "wb") as log_file:
        return lifeline.popen(
            [sys.executable, "-m", "isspanel", "flink", "run", *args],
            cwd=PROJECT_ROOT,
            env=settings_env(settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def end_group(proc: subprocess.Popen) -> None:
    """Kill whatever a failed test left of the run's process group."""
    if group_members(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(10)
    lifeline.untie(proc.pid)


# What a clean stop never prints: tracebacks, py4j's connection errors, Java stack frames.
NOISE = ("Traceback", "py4j", "Py4J", "\tat ", "ERROR")


def assert_quiet_stop(proc: subprocess.Popen, log_path: Path, signame: str) -> str:
    """Exits 0 (or 130) within a minute, says so in its own line, no noise, no process left."""
    try:
        code = proc.wait(90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 90 s after {signame}:\n{tail(log_path)}")
    text = log_path.read_text(errors="replace")
    assert code in (0, 130), text[-3000:]
    assert f"{signame}: stopping the Flink job" in text, text[-3000:]
    for noise in NOISE:
        assert noise not in text, text[-3000:]
    deadline = time.monotonic() + 30
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_members(proc.pid), "a process of the run outlived it"
    return text


@pytest.fixture(scope="module")
def flink_job(kafka_settings, tmp_path_factory):
    """Publish the backlog and poison, start `isspanel flink run`, stop it at the end."""
    tag = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("flink-home")
    settings = kafka_settings.replace(
        topics={
            "location": f"iss-location-{tag}",
            "speed": f"iss-speed-{tag}",
            "stats": f"iss-stats-{tag}",
            "events": f"iss-events-{tag}",
            # Two partitions: all positions share one key, so one stays empty and only the idle
            # timeout in 00_source_iss_location.sql lets the watermark move.
            "partitions": 2,
        },
        home=home,
        flink={
            "rest_port": free_port(),
            "group": f"isspanel-flink-{tag}",
        },
    )
    # None of its topics exists: the run creates them (auto-creation is off on the test
    # broker), test_run_creates_the_topics_it_reads_and_writes says so.
    names = pipeline_topics(settings)
    assert not set(names) & topics(settings)

    # A window boundary two hours back: the restarts add positions after these (and the
    # producer refuses positions from the future).
    end = int(time.time()) // WINDOW_S * WINDOW_S - 12 * WINDOW_S
    source = Sgp4Source(settings)
    records = list(source.history(COUNT, step_s=STEP_S, end_ts=end))
    assert records[0].timestamp % WINDOW_S == 0

    log_path = home / "flink-run.log"
    started = time.monotonic()
    proc = start_run(settings, log_path)
    job = Namespace(
        settings=settings,
        records=records,
        published=list(records),  # every valid position on the topic, as tests add more
        proc=proc,
        log_path=log_path,
        descendants=[],
        restarts=[],  # (process, log) of the later runs
    )
    try:
        # Published once the run has made the topics, while its JVM starts.
        wait_until(lambda: set(names) <= topics(settings), 60, "the run's topics", proc, log_path)
        IssProducer(settings, Sgp4Source(settings)).publish_all(records[:101])
        produce_raw(settings, settings.topics.location, poison(records))
        IssProducer(settings, Sgp4Source(settings)).publish_all(records[101:])
        wait_until(lambda: running_jobs(settings), START_TIMEOUT_S, "a RUNNING job", proc, log_path)
        job.descendants = psutil.Process(proc.pid).children(recursive=True)
        job.started_s = time.monotonic() - started
        yield job
    finally:
        for run in [proc, *(p for p, _log in job.restarts)]:
            if run.poll() is None:
                run.terminate()  # the runner stops the job with a savepoint and exits
                try:
                    run.wait(90)
                except subprocess.TimeoutExpired:
                    pass
            end_group(run)
        _gone, alive = psutil.wait_procs(job.descendants, timeout=30)
        for child in alive:  # the gateway JVM outlived its Python parent
            child.kill()


# -- the shared job run -----------------------------------------------------------------------


def test_run_creates_the_topics_it_reads_and_writes(flink_job):
    """Auto-creation is off on the test broker: without the runner's topics the job waits mute.
    None of the four existed before the run (the fixture asserts it)."""
    settings = flink_job.settings
    assert set(pipeline_topics(settings)) <= topics(settings)
    assert "created topic(s)" in flink_job.log_path.read_text()
    rows = read_committed(settings, settings.topics.speed, expected=COUNT - 1, timeout_s=90)
    assert len(rows) == COUNT - 1, tail(flink_job.log_path)


def test_speeds_are_physical(flink_job):
    settings, records = flink_job.settings, flink_job.records
    rows = read_committed(settings, settings.topics.speed, expected=COUNT - 1, timeout_s=90)
    assert len(rows) == COUNT - 1, f"{len(rows)} speed rows"
    speeds = [r["speed_kmh"] for r in rows]
    assert all(24_000 <= s <= 26_500 for s in speeds), (min(speeds), max(speeds))
    assert sorted(r["timestamp"] for r in rows) == [r.timestamp for r in records[1:]]
    assert {r["dt_s"] for r in rows} == {STEP_S}
    first = min(rows, key=lambda r: r["timestamp"])
    a, b = records[0], records[1]
    assert first["eventTime"] == iso_utc(b.timestamp)
    assert math.isclose(
        first["distance_km"],
        great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude),
        rel_tol=1e-9,
    )


def test_window_counts_are_exact(flink_job):
    settings, records = flink_job.settings, flink_job.records
    windows = COUNT // (WINDOW_S // STEP_S)  # 28 closed windows; the newest one stays open
    rows = read_committed(settings, settings.topics.stats, expected=windows, timeout_s=90)
    rows.sort(key=lambda r: r["window_start"])
    assert len(rows) == windows
    # The first window lacks the first position's leg (no predecessor).
    assert [r["count"] for r in rows] == [9] + [10] * (windows - 1)
    assert {r["anomalies"] for r in rows} == {0}
    start = records[0].timestamp
    assert [r["window_start"] for r in rows] == [
        iso_utc(start + i * WINDOW_S) for i in range(windows)
    ]
    assert rows[-1]["window_end"] == iso_utc(records[-1].timestamp)
    first = rows[0]
    legs = list(itertools.pairwise(records[:10]))  # the 9 legs ending in the first window
    distance = sum(
        great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude) for a, b in legs
    )
    assert math.isclose(first["distance_km"], distance, rel_tol=1e-9)
    assert math.isclose(first["mean_speed_kmh"], distance / len(legs) / STEP_S * 3600)
    assert first["min_latitude"] == min(r.latitude for r in records[1:10])
    assert first["max_latitude"] == max(r.latitude for r in records[1:10])
    assert (first["first_timestamp"], first["last_timestamp"]) == (start + 60, start + 540)
    assert first["last_event_time"] == iso_utc(start + 540)


def test_crossings_match_the_orbit(flink_job):
    settings, records = flink_job.settings, flink_job.records
    expected = expect.events(records, settings)
    assert len(expected) >= 8  # three orbits: ~6 equator and ~3 antimeridian crossings
    rows = read_committed(settings, settings.topics.events, expected=len(expected), timeout_s=60)
    got = sorted(((r["event"], r["direction"], r["timestamp"]) for r in rows), key=lambda e: e[2])
    assert len(got) == len(expected)
    for (event, direction, ts), (want_event, want_direction, want_ts) in zip(
        got, expected, strict=True
    ):
        assert (event, direction) == (want_event, want_direction)
        assert abs(ts - want_ts) <= 1
    for row in rows:
        if row["event"] == "equator":
            assert row["latitude"] == 0.0 and -180 <= row["longitude"] <= 180
        else:
            assert row["longitude"] == 180.0 and abs(row["latitude"]) <= 52
        # An anomaly's fields are left out of crossings, not written as nulls.
        assert not {"reason", "speed_kmh", "dt_s", "distance_km"} & set(row)


def test_malformed_records_are_skipped_and_the_job_survives(flink_job, caplog):
    settings = flink_job.settings
    # The speed rows are exact (test_speeds_are_physical): no poison got through; and the
    # millisecond timestamp did not push the watermark into the future: windows still close.
    read_committed(settings, settings.topics.speed, expected=COUNT - 1, timeout_s=90)
    jobs = running_jobs(settings)
    assert [j["name"] for j in jobs] == ["isspanel: speed+stats+crossings"]
    with caplog.at_level("INFO", logger="isspanel.analytics.runner"):
        assert flink_command(Namespace(action="list", jobs=[]), settings) == 0
    assert jobs[0]["jid"] in caplog.text and "RUNNING" in caplog.text
    assert flink_job.proc.poll() is None


def test_live_positions_close_the_open_window(flink_job):
    """The newest window closes as soon as the first position at or after its end arrives."""
    settings, records = flink_job.settings, flink_job.records
    windows = COUNT // (WINDOW_S // STEP_S)
    read_committed(settings, settings.topics.stats, expected=windows, timeout_s=90)
    end = records[-1].timestamp
    source = Sgp4Source(settings)
    more = [source.position(end + STEP_S * i) for i in range(1, WINDOW_S // STEP_S + 1)]
    published = time.monotonic()
    IssProducer(settings, source).publish_all(more)
    flink_job.published += more
    rows = read_committed(settings, settings.topics.stats, expected=windows + 1, timeout_s=60)
    latency = time.monotonic() - published
    newest = max(rows, key=lambda r: r["window_start"])
    assert newest["window_start"] == iso_utc(end)
    assert newest["count"] == WINDOW_S // STEP_S  # the leg ending at `end`, then nine more
    # The closing position, then the transaction of the next checkpoint (10 s apart).
    assert latency < 45, f"the window closed {latency:.1f} s after its closing position"


def test_the_local_cluster_listens_on_loopback_only(flink_job):
    """REST (it accepts jobs), blob server, py4j: every listening socket is on loopback."""
    sockets = listening(flink_job.proc.pid)
    port = flink_job.settings.flink.rest_port
    assert any(p == port for _name, _ip, p in sockets), sockets
    wide = [s for s in sockets if not s[1].startswith(LOOPBACK)]
    assert not wide, f"listening beyond loopback: {wide} (all: {sockets})"
    assert running_jobs(flink_job.settings)  # the REST client finds it on 127.0.0.1


def test_cancel_stops_the_run_with_a_savepoint_and_its_jvm(flink_job, caplog):
    settings, proc = flink_job.settings, flink_job.proc
    assert any("java" in p.name() for p in flink_job.descendants), "no gateway JVM seen"
    with caplog.at_level("INFO", logger="isspanel.analytics.runner"):
        assert flink_command(Namespace(action="cancel", jobs=[]), settings) == 0
    assert "with a savepoint: file:" in caplog.text, caplog.text
    assert proc.wait(60) == 0, tail(flink_job.log_path)
    _gone, alive = psutil.wait_procs(flink_job.descendants, timeout=30)
    assert not alive, f"left behind: {alive}"
    assert "the Flink job ended: FINISHED" in flink_job.log_path.read_text()
    assert running_jobs(settings) == []


# -- restarts: exactly once, anomalies -------------------------------------------------------


def stop_first_run(flink_job) -> None:
    """The first run, its rows written, stopped gracefully (as test_cancel_... does), whichever
    tests ran before."""
    if flink_job.proc.poll() is None:
        assert_each_row_once(flink_job)
        flink_command(Namespace(action="cancel", jobs=[]), flink_job.settings)
        flink_job.proc.wait(90)


def restart(flink_job, name: str):
    """Start `isspanel flink run` again on the same topics, group and state folder."""
    log_path = flink_job.settings.home / f"flink-run-{name}.log"
    proc = start_run(flink_job.settings, log_path)
    flink_job.restarts.append((proc, log_path))
    wait_until(
        lambda: running_jobs(flink_job.settings), START_TIMEOUT_S, "a RUNNING job", proc, log_path
    )
    return proc, log_path


def publish_after(flink_job, offsets_s: list[int], displaced: set[int] = frozenset()):
    """SGP4 positions at the newest published one + each offset; those in ``displaced`` are
    moved 20 degrees towards the equator and east (over 2,000 km off its track): the legs into
    and out of one are then far outside the speed band whatever the track's heading. (At 5°,
    ~700 km, the leg out fell inside the band at some times of day, the track heading the way
    the position was moved.)"""
    settings = flink_job.settings
    source = Sgp4Source(settings)
    last = max(r.timestamp for r in flink_job.published)
    batch = []
    for offset in offsets_s:
        record = source.position(last + offset)
        if offset in displaced:
            lat = record.latitude - math.copysign(20.0, record.latitude)
            lon = (record.longitude + 200.0) % 360.0 - 180.0
            record = IssRecord(record.timestamp, lat, lon, record.source)
        batch.append(record)
    IssProducer(settings, source).publish_all(batch)
    flink_job.published += batch
    return batch


def assert_each_row_once(flink_job, timeout_s: float = 120.0) -> dict:
    """The output topics, read_committed, hold exactly what the rules say for every position
    published so far: each leg, window, crossing and anomaly once."""
    settings, published = flink_job.settings, flink_job.published
    want_speeds = expect.speeds(published, settings)
    want_windows = expect.windows(published, settings)
    want_events = expect.events(published, settings)
    speeds = read_committed(settings, settings.topics.speed, len(want_speeds), timeout_s)
    stats = read_committed(settings, settings.topics.stats, len(want_windows), timeout_s)
    events = read_committed(settings, settings.topics.events, len(want_events), timeout_s)
    assert not expect.repeated(r["timestamp"] for r in speeds), "a leg written twice"
    assert not expect.repeated(r["window_start"] for r in stats), "a window written twice"
    assert not expect.repeated(map(expect.event_key, events)), "an event written twice"
    assert sorted(r["timestamp"] for r in speeds) == [leg.rec.timestamp for leg in want_speeds]
    by_time = {leg.rec.timestamp: leg for leg in want_speeds}
    for row in speeds:
        assert math.isclose(row["speed_kmh"], by_time[row["timestamp"]].speed_kmh, rel_tol=1e-9)
    got_windows = sorted(stats, key=lambda r: r["window_start"])
    assert [r["window_start"] for r in got_windows] == [w["window_start"] for w in want_windows]
    for row, want in zip(got_windows, want_windows, strict=True):
        assert (row["count"], row["anomalies"]) == (want["count"], want["anomalies"]), row
        assert row.get("first_timestamp") == want["first_timestamp"], row
        if want["distance_km"] is not None:
            assert math.isclose(row["distance_km"], want["distance_km"], rel_tol=1e-9)
    got_events = sorted(map(expect.event_key, events), key=lambda e: (e[2], e[0]))
    assert len(got_events) == len(want_events), (got_events, want_events)
    for got, want in zip(got_events, want_events, strict=True):
        assert got[:2] == want[:2] and abs(got[2] - want[2]) <= 1, (got, want)
    return {"speeds": speeds, "stats": stats, "events": events}


def test_a_restart_after_a_savepoint_shows_each_row_once_and_flags_anomalies(flink_job):
    """Stopped with a savepoint, then positions added, then a new run: the leg across the stop,
    the window open at the stop, and nothing twice. The new positions hold an impossible one
    (two anomalous legs), a 20-s leg (too short to judge) and a 13-minute gap (not a leg)."""
    stop_first_run(flink_job)
    # Minute 5 is 2,000+ km off; 10:20 makes legs of 20 s and 40 s; 13 to 24 minutes are missing.
    offsets = [60 * k for k in range(1, 13)] + [620] + [60 * k for k in range(25, 31)]
    batch = publish_after(flink_job, sorted(offsets), displaced={300})
    proc, log_path = restart(flink_job, "after-savepoint")
    assert "resuming from " in log_path.read_text() and "/savepoints/" in log_path.read_text()
    rows = assert_each_row_once(flink_job)

    anomalies = [e for e in rows["events"] if e["event"] == "anomaly"]
    bad = batch[4]  # the displaced position: the legs into it and out of it
    assert [a["timestamp"] for a in sorted(anomalies, key=lambda a: a["timestamp"])] == [
        bad.timestamp,
        bad.timestamp + 60,
    ]
    for row in anomalies:
        # Into it and out of it: both far too long.
        assert row["dt_s"] == 60 and row["speed_kmh"] > 26_500, row
        assert row["reason"].startswith("speed ") and "over 60 s" in row["reason"], row
        assert row["prev_timestamp"] == row["timestamp"] - 60 and "direction" not in row
    speed_times = {r["timestamp"] for r in rows["speeds"]}
    assert not {bad.timestamp, bad.timestamp + 60} & speed_times  # no speed from them
    short = [r for r in rows["speeds"] if r["dt_s"] in (20, 40)]
    assert len(short) == 2, short  # too short to judge, and a normal 40-s leg
    gap_end = batch[-6].timestamp  # after 13 missing minutes: no leg, no speed, no anomaly
    assert gap_end not in speed_times and all(a["timestamp"] != gap_end for a in anomalies)
    window = [s for s in rows["stats"] if s["anomalies"]]
    assert [w["anomalies"] for w in window] == [2] or [w["anomalies"] for w in window] == [1, 1]
    assert proc.poll() is None


def test_sigterm_to_the_group_then_a_restart_shows_each_row_once(flink_job):
    """SIGTERM to the process group (systemd, a terminal's group): the JVM dies with it, no
    savepoint. The next run resumes from the last checkpoint and aborts what was written after
    it: a read_committed reader still sees every row once."""
    settings = flink_job.settings
    running = [(p, log) for p, log in flink_job.restarts if p.poll() is None]
    if not running:  # run alone: stop the first run, start one
        stop_first_run(flink_job)
        running = [restart(flink_job, "before-sigterm")]
    proc, run_log = running[-1]
    publish_after(flink_job, [60 * k for k in range(1, 6)])
    done = len(expect.speeds(flink_job.published, settings))
    read_committed(settings, settings.topics.speed, done)
    publish_after(flink_job, [60, 120])  # maybe written, not yet committed, when the JVM dies
    # The JVM's scratch is the run's own folder under ISS_HOME, never /tmp (scratch_dir).
    scratch = settings.home / "flink" / "tmp" / str(proc.pid)
    assert list(scratch.glob("flink-rpc-akka*.jar")), list(scratch.parent.glob("*/*"))
    os.killpg(proc.pid, signal.SIGTERM)
    # Quietly, as every stop (test_flink_hardening.py): no py4j call after it, no flood of
    # errors, no process of the run left behind.
    assert_quiet_stop(proc, run_log, "SIGTERM")
    assert proc.returncode == 0
    publish_after(flink_job, [60 * k for k in range(1, 12)])
    _proc, log_path = restart(flink_job, "after-sigterm")
    text = log_path.read_text()
    assert "resuming from " in text and "/checkpoints/" in text, text[-2000:]
    assert not scratch.exists()  # the next run removed the scratch the ended one left
    assert_each_row_once(flink_job)


def test_ctrl_c_stops_the_running_job_with_a_savepoint_quietly(flink_job):
    """PyFlink's JVM ignores SIGINT: the runner stops the job with a savepoint in the state
    folder, and the next run resumes from it. A terminal's Ctrl-C reaches the whole foreground
    process group: SIGINT to the group of the run the SIGTERM test restarted."""
    running = [(p, log) for p, log in flink_job.restarts if p.poll() is None]
    if not running:  # run alone: stop the first run, start one
        stop_first_run(flink_job)
        running = [restart(flink_job, "before-ctrl-c")]
    proc, log_path = running[-1]
    os.killpg(proc.pid, signal.SIGINT)
    text = assert_quiet_stop(proc, log_path, "SIGINT")
    assert proc.returncode == 0
    state = flink_job.settings.home / "flink" / "state"
    assert f"savepoint file:{state}" in text and "the next run resumes from it" in text
    assert "the Flink job ended: FINISHED" in text
    taken = re.search(r"savepoint file:(\S+) taken", text)
    assert taken and (Path(taken[1]) / "_metadata").is_file(), "no savepoint on disk"


def test_a_stop_of_a_starting_job_whose_run_exits_first_reports_its_savepoint(flink_job):
    """The two races `isspanel flink cancel` lost on a loaded machine, made certain: the stop
    comes as soon as the job is RUNNING (its tasks still deploy: Flink refuses a savepoint
    then), and the outcome is asked only after the run has exited (it exits once its job has
    FINISHED, and its REST API goes with it)."""
    settings = flink_job.settings
    for proc in [p for p, _log in flink_job.restarts if p.poll() is None]:
        proc.terminate()  # the runner stops its job with a savepoint and exits
        assert proc.wait(90) == 0
    stop_first_run(flink_job)
    proc, log_path = restart(flink_job, "stop-races")
    job = running_jobs(settings)[0]
    base_url = web_url(settings)
    assert cluster.wait_for_tasks(base_url, job["jid"], timeout_s=START_TIMEOUT_S)
    target = savepoints.savepoint_target(settings, job["name"])
    request = cluster.request_stop(base_url, job["jid"], target)
    assert proc.wait(90) == 0, tail(log_path)
    assert "the Flink job ended: FINISHED" in log_path.read_text()
    where = cluster.stop_outcome(request, timeout_s=30)
    folder = Path(url2pathname(urlparse(where).path))
    assert (
        folder.name.startswith(f"savepoint-{job['jid'][:6]}-") and (folder / "_metadata").is_file()
    )
    assert folder.parent.as_uri() == target


# -- the notebook, and the SQL files checked in its kernel's JVM --------------------------------

NOTEBOOK = PROJECT_ROOT / "notebooks" / "02_flink_sql.ipynb"
NOTEBOOK_TIMEOUT_S = 600  # the kernel (its JVM) starts in the fixture, with the first test

# Run in the notebook's kernel after its last cell, on a throwaway TableEnvironment of the same
# gateway JVM: each file through Flink's own parser and planner, without a JVM of its own.
SQL_CHECK = """\
import json
from pathlib import Path
from isspanel.settings import Settings
from isspanel.analytics.environment import create_table_env
from isspanel.analytics.jobs import check_sql
settings = Settings.from_env(home=Path({home!r}), flink={{"rest_port": {port}}})
t_env = create_table_env(settings)
print("CHECKED " + json.dumps(check_sql(settings, t_env)))
print("TABLES " + json.dumps([t_env.list_tables(), t_env.list_views()]))
"""


@pytest.fixture(scope="module")
def notebook_kernel(kafka_settings, tmp_path_factory):
    """02_flink_sql.ipynb run top to bottom against the session broker and fresh topics, then
    the SQL check in the same kernel; the kernel (and its gateway JVM) stays up for the tests
    that read what they did: one Flink JVM for both. A cell that fails is kept, not raised."""
    home = tmp_path_factory.mktemp("notebook-home")  # the kernel's JVM logs there: names it
    settings = fresh_topics(kafka_settings)
    stored = NOTEBOOK.read_bytes()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    check = nbformat.v4.new_code_cell(SQL_CHECK.format(home=str(home / "check"), port=free_port()))
    kernel = Namespace(settings=settings, home=home, nb=nb, stored=stored, client=client,
                       check=check, notebook_error=None, check_error=None)  # fmt: skip
    try:
        with pytest.MonkeyPatch.context() as env:
            for var, value in {**kafka_env(settings), "ISS_HOME": str(home)}.items():
                env.setenv(var, value)  # the kernel inherits them
            try:
                client.execute(cleanup_kc=False)  # the kernel stays up for the check and tests
            except CellExecutionError as exc:
                kernel.notebook_error = exc
        if client.kc is not None:
            nb.cells.append(check)  # in memory only: the file stays as it is
            try:
                client.execute_cell(check, len(nb.cells) - 1)
            except CellExecutionError as exc:
                kernel.check_error = exc
        yield kernel
    finally:
        shut_down(client)  # also when a cell timed out or the kernel died


def shut_down(client: NotebookClient) -> None:
    """The kernel, and with it its JVM (the notebook test waits for that), as nbclient's own
    clean-up does: the kernel manager's methods are coroutines (AsyncKernelManager)."""
    if client.km is not None:
        if run_sync(client.km.is_alive)():
            run_sync(client.km.shutdown_kernel)()
        run_sync(client.km.cleanup_resources)()
    if client.kc is not None:
        client.kc.stop_channels()
        client.kc = None


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_sql_files_parse_with_flink(notebook_kernel):
    """Each file, as written, through Flink's own parser and planner: in the notebook kernel's
    gateway JVM (a child JVM, as `flink run`'s is), on a TableEnvironment of its own."""
    assert notebook_kernel.check_error is None, str(notebook_kernel.check_error)[-3000:]
    stdout = "".join(
        o.get("text", "") for o in notebook_kernel.check.outputs if o.output_type == "stream"
    )
    lines = [ln for ln in stdout.splitlines() if ln.startswith("CHECKED ")]
    assert lines, f"the SQL check did not run: {notebook_kernel.notebook_error}"[-3000:]
    checked = json.loads(lines[-1].removeprefix("CHECKED "))
    assert list(checked) == [p.name for p in sql_files()]
    assert checked["00_source_iss_location.sql"] == ["SET", "SET", "CREATE TABLE", "CREATE VIEW"]
    for name in ("10_speed.sql", "20_stats.sql", "30_crossings.sql"):
        assert checked[name][:2] == ["SET", "CREATE TABLE"]
        assert checked[name][-1] == "INSERT"
    # Flink ran the DDL (public API): the tables and views exist in the throwaway environment.
    (tables_line,) = [ln for ln in stdout.splitlines() if ln.startswith("TABLES ")]
    tables, views = json.loads(tables_line.removeprefix("TABLES "))
    sinks = {"iss_location", "iss_speed", "iss_stats", "iss_events"}
    assert sinks <= set(tables) - set(views)
    assert {"iss_location_clean", "iss_legs", "iss_speed_legs"} <= set(views)


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_notebook_runs_top_to_bottom(notebook_kernel):
    """02_flink_sql.ipynb against the session broker and fresh topics; its JVM goes with its
    kernel."""
    settings, nb = notebook_kernel.settings, notebook_kernel.nb
    assert notebook_kernel.notebook_error is None, str(notebook_kernel.notebook_error)[-3000:]
    cells = [c for c in nb.cells if c is not notebook_kernel.check]
    errors = [o for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert NOTEBOOK.read_bytes() == notebook_kernel.stored, "the notebook file was modified"
    # Two orbits (186 positions): 185 speeds; 19 closed windows, the 20th stays open.
    speeds = read_committed(settings, settings.topics.speed, expected=185, timeout_s=30)
    assert len(speeds) == 185
    assert all(24_000 <= r["speed_kmh"] <= 26_500 for r in speeds)
    assert len(read_committed(settings, settings.topics.stats, expected=19)) == 19  # to the end
    events = read_committed(settings, settings.topics.events, expected=1, timeout_s=5)
    assert events and {e["event"] for e in events} <= {"equator", "antimeridian"}

    home = str(notebook_kernel.home)

    def jvms() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if home in " ".join(p.info["cmdline"] or []):
                found.append(p)
        return found

    running = jvms()
    assert running, "no JVM of the kernel found"
    shut_down(notebook_kernel.client)
    _gone, alive = psutil.wait_procs(running, timeout=30)
    for p in alive:
        p.kill()
    assert not alive, f"the kernel's JVM outlived it: {alive}"
