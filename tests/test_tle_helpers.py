"""The synthetic TLEs of tests/tle_helpers.py: sgp4, skyfield and our checks read the epoch
asked for, so tests built on them test what they say whatever today's date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from skyfield.api import EarthSatellite, load

from isspanel.geo.orbit import load_tle
from isspanel.settings import Settings
from isspanel.sources import tle
from tests.tle_helpers import (
    BUNDLED_PATH,
    REFERENCE,
    epoch_field,
    tle_of,
    tle_text,
    with_checksum,
    write_tle,
)


def test_the_checksum_is_the_one_real_tles_carry():
    bundled = load_tle(BUNDLED_PATH)  # whichever it is now: CelesTrak's checksums
    for line in (REFERENCE.line1, REFERENCE.line2, bundled.line1, bundled.line2):
        assert with_checksum(line) == line
    assert with_checksum(REFERENCE.line1[:68] + "0") == REFERENCE.line1
    assert tle.validate(tle_text()) == REFERENCE  # the epoch kept: the same lines


def test_the_epoch_field_is_two_digit_year_and_day_of_year():
    assert epoch_field(datetime(2026, 1, 1, tzinfo=UTC)) == "26001.00000000"
    assert epoch_field(datetime(2030, 12, 31, 18, tzinfo=UTC)) == "30365.75000000"
    assert epoch_field(datetime(1999, 2, 1, 6, tzinfo=UTC)) == "99032.25000000"
    with pytest.raises(ValueError, match="naive"):
        epoch_field(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="2057"):
        epoch_field(datetime(2057, 1, 1, tzinfo=UTC))  # SGP4 would read it as 1957


@pytest.mark.parametrize(
    "epoch",
    [
        datetime(2028, 2, 29, 12, 34, 56, tzinfo=UTC),  # a leap day
        datetime(2031, 7, 4, 0, 0, 1, tzinfo=UTC),
        datetime(2019, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime.now(UTC) - timedelta(days=20),
    ],
)
def test_sgp4_skyfield_and_our_checks_read_the_epoch_asked_for(epoch, tmp_path):
    ours = tle_of(epoch)  # sgp4's Satrec behind it
    assert abs(ours.epoch - epoch) < timedelta(milliseconds=1)
    assert tle.validate(tle_text(epoch), now=epoch.timestamp()).line1 == ours.line1
    timescale = load.timescale(builtin=True)
    sky = EarthSatellite(ours.line1, ours.line2, ours.name, timescale)
    assert abs(sky.epoch.utc_datetime() - epoch) < timedelta(milliseconds=1)
    # The orbit is REFERENCE's: the ISS's altitude band half an orbit after the epoch.
    later = timescale.from_datetime(epoch + timedelta(minutes=30))
    assert 370 < sky.at(later).distance().km - 6371 < 460
    # Written for ISS_TLE_PATH, it loads as the same TLE.
    path = write_tle(tmp_path / "tle" / "iss.tle", epoch)
    assert tle.newest_tle(Settings().replace(tle={"path": path}, home=tmp_path / "home"))[0] == ours


def test_a_bad_sum_is_refused():
    with pytest.raises(tle.TleError, match="checksum"):
        tle.validate(tle_text(datetime(2026, 5, 1, tzinfo=UTC), bad_sum=True))
