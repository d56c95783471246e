"""The Flink SQL jobs, run for real: `isspanel flink run` on a local mini-cluster.

One job run is shared by the module: three orbits of SGP4 positions 60 s apart with poison
messages mixed in, read back from the speed, stats and events topics; `isspanel flink cancel`
ends it and the test checks that no JVM is left behind.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import time
import uuid
from argparse import Namespace
from dataclasses import fields

import psutil
import pytest

from isspanel.analytics import runner as flink_runner
from isspanel.broker.topics import ensure_topics
from isspanel.geo.orbit import great_circle_km
from isspanel.produce.producer import IssProducer
from isspanel.record import iso_utc
from isspanel.settings import PROJECT_ROOT, Settings
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import free_port, kafka_env, produce_raw, read_topic

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
]
START_TIMEOUT_S = 120


def settings_env(settings: Settings) -> dict[str, str]:
    """The ISS_* environment that makes a subprocess see ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISS_")}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[f.metadata["env"]] = str(value)
    env["ISS_KAFKA_BOOTSTRAP"] = settings.bootstrap
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
        return [j for j in flink_runner.rest_jobs(settings, 2) if j["state"] == "RUNNING"]
    except Exception:
        return []


@pytest.fixture(scope="module")
def flink_job(kafka_settings, tmp_path_factory):
    """Publish the backlog and poison, start `isspanel flink run`, stop it at the end."""
    tag = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("flink-home")
    settings = kafka_settings.replace(
        topic=f"iss-location-{tag}",
        speed_topic=f"iss-speed-{tag}",
        stats_topic=f"iss-stats-{tag}",
        events_topic=f"iss-events-{tag}",
        # Two partitions: all positions share one key, so one stays empty and only the idle
        # timeout in 00_source_iss_location.sql lets the watermark move.
        partitions=2,
        home=home,
        flink_rest_port=free_port(),
        flink_group=f"isspanel-flink-{tag}",
    )
    ensure_topics(settings)

    end = int(time.time()) // WINDOW_S * WINDOW_S - WINDOW_S  # a window boundary, in the past
    source = Sgp4Source(settings)
    records = list(source.history(COUNT, step_s=STEP_S, end_ts=end))
    assert records[0].timestamp % WINDOW_S == 0
    IssProducer(settings, Sgp4Source(settings)).publish_all(records[:101])
    produce_raw(settings, settings.topic, poison(records))
    IssProducer(settings, Sgp4Source(settings)).publish_all(records[101:])

    log_path = home / "flink-run.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "isspanel", "flink", "run"],
            cwd=PROJECT_ROOT,
            env=settings_env(settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    descendants: list[psutil.Process] = []
    try:
        started = time.monotonic()
        wait_until(lambda: running_jobs(settings), START_TIMEOUT_S, "a RUNNING job", proc, log_path)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        yield Namespace(
            settings=settings,
            records=records,
            proc=proc,
            log_path=log_path,
            descendants=descendants,
            started_s=time.monotonic() - started,
        )
    finally:
        if proc.poll() is None:
            proc.terminate()  # the runner cancels the job and exits
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        _gone, alive = psutil.wait_procs(descendants, timeout=30)
        for child in alive:  # the gateway JVM outlived its Python parent
            child.kill()


# -- without a job ----------------------------------------------------------------------------


def test_sql_is_pointed_at_the_settings():
    settings = Settings(
        kafka_bootstrap="broker-a:1,broker-b:2",
        topic="loc-x",
        speed_topic="speed-x",
        stats_topic="stats-x",
        events_topic="events-x",
        flink_group="group-x",
        window_minutes=15,
    )
    text = "\n".join(
        s
        for name in ("00_source_iss_location.sql", "10_speed.sql", "20_stats.sql")
        for s in flink_runner.load_sql(name, settings)
    )
    assert "'topic' = 'loc-x'" in text
    assert "'topic' = 'speed-x'" in text
    assert "'topic' = 'stats-x'" in text
    assert "'properties.bootstrap.servers' = 'broker-a:1,broker-b:2'" in text
    assert "'properties.group.id' = 'group-x'" in text
    assert "INTERVAL '15' MINUTES" in text
    assert "localhost:9092" not in text and "iss-location" not in text
    assert "--" not in text  # comments are gone, statements are whole
    events = flink_runner.load_sql("30_crossings.sql", settings)
    assert "'topic' = 'events-x'" in events[0]
    bounded = flink_runner.load_sql("00_source_iss_location.sql", settings, bounded=True)
    assert "'scan.bounded.mode' = 'latest-offset'" in " ".join(bounded)


def test_sql_files_parse_with_flink(tmp_path):
    """Each file, as written, through Flink's own parser and planner (in a child JVM)."""
    code = (
        "import json\nfrom pathlib import Path\n"
        "from isspanel.settings import Settings\n"
        "from isspanel.analytics.runner import check_sql, create_table_env\n"
        f"settings = Settings.from_env(home=Path({str(tmp_path)!r}),\n"
        f"                             flink_rest_port={free_port()})\n"
        "t_env = create_table_env(settings)\n"
        "print('CHECKED ' + json.dumps(check_sql(settings, t_env)))\n"
        "print('TABLES ' + json.dumps([t_env.list_tables(), t_env.list_views()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("CHECKED ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    checked = json.loads(lines[-1].removeprefix("CHECKED "))
    assert list(checked) == [p.name for p in flink_runner.sql_files()]
    assert checked["00_source_iss_location.sql"] == ["SET", "SET", "CREATE TABLE", "CREATE VIEW"]
    for name in ("10_speed.sql", "20_stats.sql", "30_crossings.sql"):
        assert checked[name][0] == "CREATE TABLE"
        assert checked[name][-1] == "INSERT"
    # Flink ran the DDL (public API): the tables and views exist in the throwaway environment.
    (tables_line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("TABLES ")]
    tables, views = json.loads(tables_line.removeprefix("TABLES "))
    sinks = {"iss_location", "iss_speed", "iss_stats", "iss_events"}
    assert sinks <= set(tables) - set(views)
    assert {"iss_location_clean", "iss_legs", "iss_speed_legs"} <= set(views)


# -- the shared job run -----------------------------------------------------------------------


def test_speeds_are_physical(flink_job):
    settings, records = flink_job.settings, flink_job.records
    rows = read_topic(settings, settings.speed_topic, expected=COUNT - 1, timeout_s=90)
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
    rows = read_topic(settings, settings.stats_topic, expected=windows, timeout_s=90)
    rows.sort(key=lambda r: r["window_start"])
    assert len(rows) == windows
    # The first window lacks the first position's leg (no predecessor).
    assert [r["count"] for r in rows] == [9] + [10] * (windows - 1)
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


def expected_crossings(records) -> list[tuple[str, str, int]]:
    """The rule of 30_crossings.sql, in Python."""
    found = []
    for a, b in itertools.pairwise(records):
        dt = b.timestamp - a.timestamp
        if (a.latitude < 0 <= b.latitude) or (a.latitude >= 0 > b.latitude):
            f = a.latitude / (a.latitude - b.latitude)
            direction = "ascending" if b.latitude >= 0 else "descending"
            found.append(("equator", direction, round(a.timestamp + f * dt)))
        if abs(b.longitude - a.longitude) > 180:
            dlon = b.longitude - a.longitude
            dlon += -360 if dlon > 180 else 360
            f = ((180 if dlon > 0 else -180) - a.longitude) / dlon
            direction = "eastward" if dlon > 0 else "westward"
            found.append(("antimeridian", direction, round(a.timestamp + f * dt)))
    return sorted(found, key=lambda e: e[2])


def test_crossings_match_the_orbit(flink_job):
    settings, records = flink_job.settings, flink_job.records
    expected = expected_crossings(records)
    assert len(expected) >= 8  # three orbits: ~6 equator and ~3 antimeridian crossings
    rows = read_topic(settings, settings.events_topic, expected=len(expected), timeout_s=60)
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


def test_malformed_records_are_skipped_and_the_job_survives(flink_job, caplog):
    settings = flink_job.settings
    # The speed rows are exact (test_speeds_are_physical): no poison got through; and the
    # millisecond timestamp did not push the watermark into the future: windows still close.
    read_topic(settings, settings.speed_topic, expected=COUNT - 1, timeout_s=90)
    jobs = running_jobs(settings)
    assert [j["name"] for j in jobs] == ["isspanel: speed+stats+crossings"]
    with caplog.at_level("INFO", logger="isspanel.analytics.runner"):
        assert flink_runner.main(Namespace(action="list", jobs=[]), settings) == 0
    assert jobs[0]["jid"] in caplog.text and "RUNNING" in caplog.text
    assert flink_job.proc.poll() is None


def test_live_positions_close_the_open_window(flink_job):
    """The newest window closes as soon as the first position at or after its end arrives."""
    settings, records = flink_job.settings, flink_job.records
    windows = COUNT // (WINDOW_S // STEP_S)
    read_topic(settings, settings.stats_topic, expected=windows, timeout_s=90)
    end = records[-1].timestamp
    source = Sgp4Source(settings)
    more = [source.position(end + STEP_S * i) for i in range(1, WINDOW_S // STEP_S + 1)]
    published = time.monotonic()
    IssProducer(settings, source).publish_all(more)
    rows = read_topic(settings, settings.stats_topic, expected=windows + 1, timeout_s=60)
    latency = time.monotonic() - published
    newest = max(rows, key=lambda r: r["window_start"])
    assert newest["window_start"] == iso_utc(end)
    assert newest["count"] == WINDOW_S // STEP_S  # the leg ending at `end`, then nine more
    assert latency < 30, f"the window closed {latency:.1f} s after its closing position"


def test_cancel_ends_the_run_and_its_jvm(flink_job):
    settings, proc = flink_job.settings, flink_job.proc
    assert any("java" in p.name() for p in flink_job.descendants), "no gateway JVM seen"
    assert flink_runner.main(Namespace(action="cancel", jobs=[]), settings) == 0
    assert proc.wait(60) == 0, tail(flink_job.log_path)
    _gone, alive = psutil.wait_procs(flink_job.descendants, timeout=30)
    assert not alive, f"left behind: {alive}"
    assert "the Flink job ended: CANCELED" in flink_job.log_path.read_text()
    assert running_jobs(settings) == []


# -- the notebook -----------------------------------------------------------------------------

NOTEBOOK = PROJECT_ROOT / "notebooks" / "02_flink_sql.ipynb"


@pytest.mark.timeout(600)
def test_notebook_runs_top_to_bottom(topic_factory, monkeypatch, tmp_path):
    """02_flink_sql.ipynb against the session broker and fresh topics; its JVM goes with it."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    settings = topic_factory()
    env = {
        **kafka_env(settings),
        "ISS_HOME": str(tmp_path),  # the kernel's JVM logs there: that names it below
    }
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    stored = NOTEBOOK.read_bytes()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert NOTEBOOK.read_bytes() == stored, "the notebook file was modified"
    # Two orbits (186 positions): 185 speeds; 19 closed windows, the 20th stays open.
    speeds = read_topic(settings, settings.speed_topic, expected=185, timeout_s=30)
    assert len(speeds) == 185
    assert all(24_000 <= r["speed_kmh"] <= 26_500 for r in speeds)
    assert len(read_topic(settings, settings.stats_topic, expected=20, timeout_s=5)) == 19
    events = read_topic(settings, settings.events_topic, expected=1, timeout_s=5)
    assert events and {e["event"] for e in events} <= {"equator", "antimeridian"}

    def jvms() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if str(tmp_path) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        return found

    _gone, alive = psutil.wait_procs(jvms(), timeout=30)
    for p in alive:
        p.kill()
    assert not alive, f"the kernel's JVM outlived it: {alive}"
