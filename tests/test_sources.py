"""The three sources: the live API (served here over real HTTP), SGP4 and replay."""

import itertools
import json
import time

import pytest

from isspanel.orbit import great_circle_km, subpoint
from isspanel.record import InvalidRecord
from isspanel.settings import Settings
from isspanel.sources import SourceError, make_source
from isspanel.sources.replay import ReplaySource
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import good_answer


def live(fake_api, **overrides):
    settings = Settings.from_env(api_url=fake_api.url, read_timeout=0.5, **overrides)
    return make_source(settings, "open-notify")


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
    ],
)
def test_open_notify_broken_answers_raise_clear_errors(fake_api, answer, error, reason):
    fake_api.script = [answer]
    with pytest.raises(error, match=reason):
        live(fake_api).fetch()


def test_auto_falls_back_to_sgp4_when_the_api_is_down(fake_api, caplog):
    fake_api.script = [{"status": 503}]
    source = make_source(Settings.from_env(api_url=fake_api.url, read_timeout=0.5), "auto")
    assert source.name == "sgp4"
    assert "OFFLINE" in caplog.text


def test_auto_uses_the_api_when_it_answers(fake_api):
    fake_api.default = good_answer(int(time.time()), 1, 2)
    assert make_source(Settings.from_env(api_url=fake_api.url), "auto").name == "open-notify"


def test_sgp4_positions_are_physical():
    source = Sgp4Source(Settings.from_env())
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
    assert 380 < altitude < 440
    assert {p.source for p in points} == {"sgp4"}


def test_sgp4_logs_the_tle_epoch(caplog):
    caplog.set_level("INFO")
    Sgp4Source(Settings.from_env())
    assert "TLE epoch 2026-" in caplog.text


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
