"""`isspanel passes`: the table it prints, and clear errors (exit code 2) for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from isspanel.geo import passes as geo_passes
from isspanel.geo.passes import compass, next_passes
from isspanel.settings import PROJECT_ROOT
from tests.tle_helpers import REFERENCE, write_tle

TLE = REFERENCE  # not the bundled file: a refresh of it must not move these passes
START = TLE.epoch + timedelta(days=1)

# -- the command -----------------------------------------------------------------------------


def run_passes(tmp_path, *args: str) -> subprocess.CompletedProcess:
    # ISS_TLE_PATH holds TLE; ISS_HOME has no refreshed one that would be newer.
    env = {**os.environ, "ISS_HOME": str(tmp_path / "home")}
    env["ISS_TLE_PATH"] = str(write_tle(tmp_path / "iss.tle"))
    return subprocess.run(
        [sys.executable, "-m", "isspanel", "passes", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_prints_the_passes_with_utc_and_local_times(tmp_path):
    start = START.replace(microsecond=0)  # as the command reads it: the same search exactly
    result = run_passes(
        tmp_path, "--lat", "52.52", "--lon", "13.40", "--days", "2", "--tz", "Europe/Berlin",
        "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (header,) = [ln for ln in lines if ln.startswith("rise UTC")]
    for column in ("rise UTC", "rise local", "culmination UTC", "set UTC", "max elevation",
                   "azimuth rise", "azimuth max", "azimuth set", "visible"):  # fmt: skip
        assert column in header
    assert "Europe/Berlin" in result.stdout
    expected = next_passes(TLE, 52.52, 13.40, start=start, days=2.0, min_elevation_deg=10.0)
    rows = [ln for ln in lines if ln[:4].isdigit()]
    assert len(rows) == len(expected) > 0
    for row, p in zip(rows, expected, strict=True):
        local = p.rise.astimezone(ZoneInfo("Europe/Berlin"))
        assert row.startswith(f"{p.rise:%Y-%m-%d %H:%M:%S}  {local:%Y-%m-%d %H:%M:%S %Z}")
        assert f"{p.max_elevation_deg:.1f}°" in row
        assert f"{compass(p.rise_azimuth_deg)}" in row
        assert row.rstrip().endswith("yes" if p.visible else "no")
    assert "WARNING" not in result.stderr  # the start is near the TLE's epoch


def test_cli_warns_when_the_tle_is_far_from_the_start(tmp_path):
    later = (TLE.epoch + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = run_passes(tmp_path, "--lat", "0", "--lon", "0", "--days", "1", "--start", later)
    assert result.returncode == 0, result.stderr
    assert "pass times may be off by minutes" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lat", "95", "--lon", "13.4"], "latitude (degrees north) must be within -90..90"),
        (["--lat", "north", "--lon", "13.4"], "latitude (degrees north) must be a number"),
        (["--lat", "52.5", "--lon", "181"], "longitude (degrees east) must be within -180..180"),
        (["--lat", "52.5", "--lon", "nan"], "longitude (degrees east) must be within"),
        (["--lat", "52.5", "--lon", "13.4", "--days", "0"], "days must be over 0 and at most 30"),
        (["--lat", "52.5", "--lon", "13.4", "--days", "31"], "days must be over 0 and at most 30"),
        (["--lat", "52.5", "--lon", "13.4", "--min-elevation", "-5"], "minimum elevation"),
        (["--lat", "52.5", "--lon", "13.4", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["--lat", "52.5", "--lon", "13.4", "--start", "tomorrow"], "not an ISO date"),
        (["--lon", "13.4"], "the following arguments are required: --lat"),
    ],
)
def test_cli_bad_input_is_a_clear_error_with_exit_code_2(tmp_path, args, message):
    result = run_passes(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_max_days_agree():
    from isspanel.cli import passes as passes_cli

    assert passes_cli.MAX_DAYS == geo_passes.MAX_DAYS


def test_cli_refuses_a_start_years_from_the_tles_epoch(tmp_path):
    result = run_passes(tmp_path, "--lat", "52", "--lon", "13", "--start", "1990-01-01")
    assert result.returncode == 1
    assert "SGP4 cannot say where the ISS is then" in result.stderr
    assert "Traceback" not in result.stderr and "rise UTC" not in result.stdout
