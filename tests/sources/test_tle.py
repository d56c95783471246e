"""`isspanel tle refresh`: a newer, valid ISS TLE is stored under ISS_HOME and wins; anything
else (offline, HTML, another satellite, a bad checksum, an older or future epoch) keeps the
one in use. The TLE server is a local HTTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from isspanel.geo.orbit import load_tle
from isspanel.settings import PROJECT_ROOT, Settings
from isspanel.sources import tle
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import free_port
from tests.tle_helpers import BUNDLED_PATH, days_ago, tle_of, tle_text

# The TLE in use before a refresh: 30 days old, whatever the bundled one's age.
IN_USE = tle_of(days_ago(30))


def served(fake_api, text: str, kind: str = "text/plain") -> str:
    fake_api.script = [{"body": text, "type": kind}]
    return fake_api.url


@pytest.fixture
def settings(tmp_path) -> Settings:
    """ISS_TLE_PATH holds IN_USE; ISS_HOME has no refreshed TLE yet."""
    in_use = tmp_path / "package" / "iss.tle"
    in_use.parent.mkdir()
    in_use.write_text(f"{IN_USE.name}\n{IN_USE.line1}\n{IN_USE.line2}\n")
    return Settings().replace(tle={"path": in_use}, home=tmp_path / "home")


def test_a_newer_tle_is_stored_under_iss_home_and_every_loader_prefers_it(settings, fake_api):
    assert tle.current_tle(settings) == IN_USE and tle.age_days(IN_USE) > 14
    in_use, bundled = settings.tle.path.read_bytes(), BUNDLED_PATH.read_bytes()
    fresh = days_ago(0.25)
    outcome = tle.refresh(settings, served(fake_api, tle_text(fresh)))
    assert outcome.ok, outcome.message
    stored = settings.home / "tle" / "iss.tle"
    assert stored.exists() and f"in {stored}" in outcome.message
    # ISS_TLE_PATH (in an installed package: the bundled file) is never written.
    assert settings.tle.path.read_bytes() == in_use and BUNDLED_PATH.read_bytes() == bundled
    assert abs(tle.current_tle(settings).epoch - fresh) < timedelta(seconds=1)
    assert Sgp4Source(settings).tle == tle.current_tle(settings)
    # The same TLE again: nothing to do, and not a failure.
    again = tle.refresh(settings, served(fake_api, tle_text(fresh)))
    assert again.ok and "has the TLE in use" in again.message


@pytest.mark.parametrize(
    "body, kind, reason",
    [
        ("<html><body>Service unavailable</body></html>", "text/html", "HTML"),
        ("ISS (ZARYA)\nnothing like a TLE\n", "text/plain", "no two-line element set"),
        ("WRONG", "text/plain", "NORAD 25544"),
        ("BAD_SUM", "text/plain", "checksum"),
        ("OLDER", "text/plain", "older than the one in use"),
        ("FUTURE", "text/plain", "in the future"),
    ],
)
def test_a_bad_tle_is_refused_and_the_old_one_kept(settings, fake_api, body, kind, reason):
    body = {
        "WRONG": tle_text(days_ago(1), norad="12345"),
        "BAD_SUM": tle_text(days_ago(1), bad_sum=True),
        "OLDER": tle_text(IN_USE.epoch - timedelta(days=30)),
        "FUTURE": tle_text(days_ago(-2)),
    }.get(body, body)
    outcome = tle.refresh(settings, served(fake_api, body, kind))
    assert not outcome.ok
    assert reason in outcome.message and "keeping the TLE of" in outcome.message
    assert not (settings.home / "tle" / "iss.tle").exists()
    assert tle.current_tle(settings) == IN_USE


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ISS_HOME": str(settings.home), "ISS_TLE_PATH": str(settings.tle.path)}
    env.pop("ISS_TLE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "isspanel", "tle", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_offline_says_so_in_one_line_and_keeps_the_old_tle(settings):
    result = run_cli(settings, "refresh", "--url", f"http://127.0.0.1:{free_port()}/iss.tle")
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "offline:" in lines[0] and "keeping the TLE of" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (settings.home / "tle").exists()


def test_cli_refresh_then_show(settings, fake_api):
    result = run_cli(settings, "refresh", "--url", served(fake_api, tle_text(days_ago(2))))
    assert result.returncode == 0, result.stderr
    assert "stored the TLE of" in result.stderr
    shown = run_cli(settings, "show")
    assert shown.returncode == 0
    assert "(2 days old)" in shown.stdout and str(settings.home / "tle" / "iss.tle") in shown.stdout


def test_the_bundled_tle_has_a_month_left_of_its_year():
    """Passes and readouts need a TLE within a year of the moment (sgp4 and skyfield drift
    past use beyond that), and many tests compute them for now. Caught here, a month ahead and
    with the fix named, rather than as a dozen puzzling failures on the day."""
    days = tle.age_days(load_tle(BUNDLED_PATH))  # read here: the one file this test is about
    assert days < 335, (
        f"isspanel/data/iss.tle is {days:.0f} days old: replace it with a current ISS TLE "
        "(`isspanel tle refresh`, then copy ISS_HOME/tle/iss.tle over it) before its year ends"
    )
