"""The three sources: the live API (served here over real HTTP), SGP4 and replay."""

import itertools
import json
import re
import time
import tracemalloc

import pytest

from isspanel.geo.orbit import great_circle_km, subpoint
from isspanel.record import InvalidRecord
from isspanel.settings import Settings
from isspanel.sources import SourceError, make_source
from isspanel.sources.replay import ReplaySource
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import good_answer
from tests.tle_helpers import days_ago, write_tle


def live(fake_api, **overrides):
    settings = Settings.from_env(producer={"api_url": fake_api.url, "read_timeout_s": 0.5})
    settings = settings.replace(**overrides)
    return make_source(settings, "open-notify")


def position(timestamp=None, **fields):
    """An answer that is right except for the given fields."""
    coordinates = {"latitude": "51.5", "longitude": "-0.12", **fields}
    ts = int(time.time()) if timestamp is None else timestamp
    return {"body": {"message": "success", "timestamp": ts, "iss_position": coordinates}}


def test_open_notify_good_answer_and_user_agent(fake_api):
    now = int(time.time())
    fake_api.script = [good_answer(now, 51.5, -0.12)]
    record = live(fake_api).fetch()
    assert (record.timestamp, record.latitude, record.longitude) == (now, 51.5, -0.12)
    assert record.source == "open-notify"
    assert fake_api.user_agents[0].startswith("isspanel/")


@pytest.mark.parametrize(
    "answer, error, reason",
    [
        ({"status": 500, "body": "oops"}, SourceError, "HTTP 500"),
        ({"status": 429, "headers": {"Retry-After": "30"}}, SourceError, "429"),
        ({"delay": 1.5, "body": {}}, SourceError, "timed out"),
        ({"body": '{"message": "success", "timest'}, InvalidRecord, "not valid JSON"),
        ({"body": "<html>down</html>", "type": "text/html"}, InvalidRecord, "text/html"),
        ({"body": {"message": "failure"}}, InvalidRecord, "failure"),
        (
            {"body": {"message": "success", "timestamp": 1, "iss_position": {"latitude": "x"}}},
            InvalidRecord,
            "not a number",
        ),
        ({"body": "[" * 10_000 + "]" * 10_000}, InvalidRecord, "nested too deeply"),
        ({"body": '{"a":' * 5_000 + "1" + "}" * 5_000}, InvalidRecord, "nested too deeply"),
        ({"body": [1, 2]}, InvalidRecord, "not a JSON object: list"),
        ({"body": "null"}, InvalidRecord, "not a JSON object: NoneType"),
        (position(latitude="<b>51.5</b>"), InvalidRecord, "latitude is not a number"),
        (position(longitude="<script>alert(1)</script>"), InvalidRecord, "longitude is not a"),
        (position(latitude=[51.5]), InvalidRecord, "latitude is not a number"),
        (position(latitude=True), InvalidRecord, "latitude is not a number"),
        (position(latitude={"deg": 1}), InvalidRecord, "latitude is not a number"),
        (position(timestamp="<i>now</i>"), InvalidRecord, "timestamp is not an integer"),
        (position(timestamp=[1]), InvalidRecord, "timestamp is not an integer"),
        ({"body": {"message": ["success"]}}, InvalidRecord, "not 'success'"),
        ({"body": {"message": "success", "iss_position": "51,0"}}, InvalidRecord, "missing"),
    ],
)
def test_open_notify_broken_answers_raise_clear_errors(fake_api, answer, error, reason):
    fake_api.script = [answer]
    with pytest.raises(error, match=reason):
        live(fake_api).fetch()


def test_auto_falls_back_to_sgp4_when_the_api_is_down(fake_api, caplog):
    fake_api.script = [{"status": 503}]
    source = make_source(
        Settings.from_env(producer={"api_url": fake_api.url, "read_timeout_s": 0.5}), "auto"
    )
    assert source.name == "sgp4"
    assert "OFFLINE" in caplog.text


def test_auto_uses_the_api_when_it_answers(fake_api):
    fake_api.default = good_answer(int(time.time()), 1, 2)
    assert (
        make_source(Settings.from_env(producer={"api_url": fake_api.url}), "auto").name
        == "open-notify"
    )


def test_sgp4_positions_are_physical(tmp_path):
    # A TLE a day old: SGP4 is good for days around its epoch, not for whatever day this runs.
    settings = Settings().replace(
        tle={"path": write_tle(tmp_path / "iss.tle", days_ago(1))}, home=tmp_path
    )
    source = Sgp4Source(settings)
    start = int(time.time())
    points = list(source.history(3 * 93, step_s=60, end_ts=start))
    assert all(abs(p.latitude) <= 52.0 for p in points)
    assert max(abs(p.latitude) for p in points) > 50.0  # it does reach its inclination
    chords = [
        great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
        for a, b in itertools.pairwise(points)
    ]
    assert min(chords) >= 400 and max(chords) <= 420, (min(chords), max(chords))
    _, _, altitude = subpoint(source.satellite, start)
    assert 370 < altitude < 460  # the ISS's band (as test_readouts); the TLE's phase moves it
    assert {p.source for p in points} == {"sgp4"}


@pytest.mark.parametrize("days", [30, 1])
def test_sgp4_logs_the_tle_epoch_and_warns_when_it_is_old(caplog, tmp_path, days):
    caplog.set_level("INFO")
    # Mid-minute: the epoch field's 8 decimals (~1 ms) cannot move it to another minute.
    epoch = days_ago(days).replace(second=30, microsecond=0)
    path = write_tle(tmp_path / "iss.tle", epoch)
    Sgp4Source(Settings().replace(tle={"path": path}, home=tmp_path / "home"))
    logged = re.search(r"TLE epoch (\S+):\d\dZ \((\d+) days old\), from (\S+)", caplog.text)
    assert logged and logged.groups() == (f"{epoch:%Y-%m-%dT%H:%M}", str(days), str(path))
    warned = f"the TLE is {days} days old (over ISS_TLE_MAX_AGE_DAYS=14)" in caplog.text
    assert warned == (days > 14)


def test_replay_reads_jsonl_and_skips_bad_lines(tmp_path, caplog):
    now = int(time.time())
    path = tmp_path / "track.jsonl"
    lines = [
        json.dumps({"timestamp": now - 120, "latitude": 1.0, "longitude": 2.0}),
        "{broken",
        json.dumps({"timestamp": now - 60, "latitude": 99.0, "longitude": 2.0}),
        json.dumps({"timestamp": now - 60, "latitude": 3.0, "longitude": 4.0, "source": "sgp4"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    source = ReplaySource(Settings.from_env(), path)
    records = list(source.paced(0))
    assert [(r.latitude, r.source) for r in records] == [(1.0, "replay"), (3.0, "replay")]
    assert "track.jsonl:2 skipped" in caplog.text and "track.jsonl:3 skipped" in caplog.text
    started = time.monotonic()
    assert len(list(source.paced(600))) == 2  # 60 s of history at 600x: about 0.1 s
    assert 0.05 < time.monotonic() - started < 2


def test_open_notify_abandons_a_dripping_answer_at_its_deadline(fake_api):
    # One byte every 0.25 s: each read returns within the read timeout, the whole takes 25 s.
    fake_api.script = [{"drip": 0.25, **good_answer(int(time.time()), 1.0, 2.0)}]
    source = live(fake_api, producer={"read_timeout_s": 1.0, "fetch_deadline_s": 1.0})
    started = time.monotonic()
    with pytest.raises(SourceError, match="1 s deadline"):
        source.fetch()
    # Deadline plus one read gap, with room for a busy machine; 25 s without the deadline.
    assert time.monotonic() - started < 1.0 + 0.25 + 2.0


@pytest.mark.parametrize("content_length", [True, False], ids=["declared", "undeclared"])
def test_open_notify_refuses_an_answer_over_the_size_cap(fake_api, content_length):
    # 8 MiB of spaces, then a valid answer: valid JSON, but no ISS answer is that big.
    answer = good_answer(int(time.time()), 1.0, 2.0)
    fake_api.script = [{"pad": 8 << 20, "length": content_length, **answer}]
    source = live(fake_api, producer={"max_answer_bytes": 64 * 1024})
    tracemalloc.start()
    try:
        with pytest.raises(InvalidRecord, match="over the 65536-byte limit"):
            source.fetch()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, f"{peak / 2**20:.1f} MiB held while refusing"


def test_open_notify_reads_a_good_answer_without_content_length(fake_api):
    fake_api.script = [{"length": False, **good_answer(int(time.time()), 3.0, 4.0)}]
    assert live(fake_api).fetch().latitude == 3.0


def test_replay_skips_a_deeply_nested_line(tmp_path, caplog):
    now = int(time.time())
    path = tmp_path / "nested.jsonl"
    good = json.dumps({"timestamp": now, "latitude": 1.0, "longitude": 2.0})
    path.write_text("[" * 10_000 + "]" * 10_000 + "\n" + good + "\n")
    records = list(ReplaySource(Settings.from_env(), path).paced(0))
    assert [r.latitude for r in records] == [1.0]
    assert "nested.jsonl:1 skipped" in caplog.text
