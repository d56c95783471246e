"""Synthetic ISS TLEs for tests: fixed elements with the epoch a test asks for.

Tests that need a fresh TLE (readouts and passes for now) or an old one (an age warning) make
it here, so they pass the same on any date and right after `isspanel/data/iss.tle` is
replaced. Only the epoch (columns 19-32 of line 1) moves; the orbit's elements are those of
REFERENCE, which is all that agreement tests (ours against skyfield) need.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from isspanel.geo.orbit import Tle, parse_tle
from isspanel.settings import PROJECT_ROOT

BUNDLED_PATH = PROJECT_ROOT / "isspanel" / "data" / "iss.tle"  # for tests of that file only
# The bundled TLE as it was when these tests were written (epoch 2026-09-16 20:27:47 UTC).
# Kept here, so that a refresh of the bundled file changes no test: a day after this epoch
# the orbit crosses the Earth's shadow and Berlin has visible and invisible passes, which
# is not so on every day of the year.
REFERENCE = parse_tle(
    "ISS (ZARYA)\n"
    "1 25544U 98067A   26259.85263506  .00007068  00000+0  13566-3 0  9993\n"
    "2 25544  51.6307 206.4210 0004838 147.2470 212.8820 15.49143506585961\n"
)


def with_checksum(line: str) -> str:
    """``line`` with its column-69 checksum made right: digits mod 10, each '-' counts 1."""
    total = sum(int(c) if c.isdigit() else c == "-" for c in line[:68])
    return line[:68] + str(total % 10)


def epoch_field(epoch: datetime) -> str:
    """The 14 characters of a TLE epoch: two-digit year, day of the year with 8 decimals."""
    if epoch.tzinfo is None:
        raise ValueError("a naive epoch: give it a time zone (UTC)")
    epoch = epoch.astimezone(UTC)
    # SGP4 reads years 57-99 as 19xx and 00-56 as 20xx.
    if not 1957 <= epoch.year <= 2056:
        raise ValueError(f"a TLE cannot say the year {epoch.year}")
    day = (epoch - datetime(epoch.year, 1, 1, tzinfo=UTC)).total_seconds() / 86400 + 1
    return f"{epoch.year % 100:02d}{day:012.8f}"


def tle_text(epoch: datetime | None = None, norad: str = "25544", bad_sum: bool = False) -> str:
    """REFERENCE, with another epoch or NORAD number, checksums made right (or wrong)."""
    line1, line2 = REFERENCE.line1, REFERENCE.line2
    if epoch is not None:
        line1 = line1[:18] + epoch_field(epoch) + line1[32:]
    line1, line2 = line1[:2] + norad + line1[7:], line2[:2] + norad + line2[7:]
    line1, line2 = with_checksum(line1), with_checksum(line2)
    if bad_sum:
        line1 = line1[:68] + str((int(line1[68]) + 1) % 10)
    return f"ISS (ZARYA)\n{line1}\n{line2}\n"


def tle_of(epoch: datetime) -> Tle:
    """A parsed TLE with REFERENCE's elements and ``epoch``."""
    return parse_tle(tle_text(epoch))


def days_ago(days: float) -> datetime:
    """The moment ``days`` before now (UTC): the epoch of a TLE that old."""
    return datetime.now(UTC) - timedelta(days=days)


def write_tle(path: Path, epoch: datetime | None = None) -> Path:
    """A TLE file at ``path`` with ``epoch`` (REFERENCE's own if None), for ISS_TLE_PATH or
    ISS_HOME/tle/iss.tle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tle_text(epoch))
    return path
