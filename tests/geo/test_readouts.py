"""Readouts beside the position (isspanel.geo.readouts, places, sun), checked independently.

Independent sides: the project's own SGP4 sub-point (``isspanel.geo.orbit.subpoint``: the
``sgp4`` library with a GMST rotation and its own geodetic conversion), the project's own sun
model, plain spherical geometry, and places whose country or ocean nobody disputes.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from isspanel.geo import orbit, places, readouts, sky, sun
from isspanel.geo.orbit import EARTH_RADIUS_KM, great_circle_km
from tests.tle_helpers import REFERENCE

TLE = REFERENCE  # not the bundled file: a day after its epoch both sunlight states occur
T0 = TLE.epoch.timestamp() + 86400
MINUTES = [T0 + 60.0 * i for i in range(0, 24 * 60, 7)]  # a day, every 7 minutes


def unit(lat: float, lon: float) -> np.ndarray:
    p, lam = math.radians(lat), math.radians(lon)
    return np.array([math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)])


# -- the sun -----------------------------------------------------------------------------------


def test_the_dashboards_sun_model_agrees_with_skyfield_over_a_year():
    """orbit.subsolar_point draws the night side; it stays within 0.05° of skyfield/DE421."""
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    moments = start + np.arange(0, 366 * 86400, 3 * 3600 + 17 * 60)  # ~2,700, all hours
    t = sky.timescale().from_datetimes([datetime.fromtimestamp(m, UTC) for m in moments])
    lat, lon = sun.subsolar_point(t)
    worst = 0.0
    for m, la, lo in zip(moments, lat, lon, strict=True):
        own = orbit.subsolar_point(float(m))
        worst = max(worst, math.degrees(math.acos(min(1.0, unit(*own) @ unit(la, lo)))))
    assert worst < 0.05, f"{worst:.4f}°"


def test_the_subsolar_point_is_where_the_sun_is_overhead():
    solstice = datetime(2026, 6, 21, 8, 24, tzinfo=UTC)  # the June solstice, 08:24 UTC
    lat, lon = sun.subsolar_point(solstice)
    assert lat == pytest.approx(23.44, abs=0.01)
    assert sun.sun_altitude_deg(lat, lon, solstice) == pytest.approx(90.0, abs=0.01)
    assert sun.sun_altitude_deg(-lat, lon + 180.0, solstice) == pytest.approx(-90.0, abs=0.01)


# -- altitude, ground speed, sunlight ------------------------------------------------------------


def test_altitude_agrees_with_the_projects_own_sgp4_subpoint():
    sat = sky.satellite(TLE)
    for ts in MINUTES:
        lat, lon, alt = readouts.subpoint(sat, ts)
        own_lat, own_lon, own_alt = orbit.subpoint(TLE.satellite, ts)
        assert alt == pytest.approx(own_alt, abs=0.5)
        assert great_circle_km(lat, lon, own_lat, own_lon) < 1.0
        assert readouts.altitude_km(sat, ts) == alt
        assert 370 < alt < 460, "the ISS flies at 370-460 km"


def test_ground_speed_agrees_with_the_projects_own_subpoints():
    sat = sky.satellite(TLE)
    for ts in MINUTES:
        a, b = orbit.subpoint(TLE.satellite, ts - 5), orbit.subpoint(TLE.satellite, ts + 5)
        own = great_circle_km(a[0], a[1], b[0], b[1]) / 10 * 3600
        speed = readouts.ground_speed_kmh(sat, ts)
        assert speed == pytest.approx(own, rel=0.002)
        assert 24_000 < speed < 27_000, "the ISS's sub-point moves at 24,000-27,000 km/h"


def test_sunlit_agrees_with_a_cylindrical_shadow_and_the_own_sun_model():
    """Decided where the shadow's edge (±30 km) leaves no doubt; both states occur."""
    sat = sky.satellite(TLE)
    seen = set()
    for ts in MINUTES:
        lat, lon, alt = orbit.subpoint(TLE.satellite, ts)
        r = unit(lat, lon) * (EARTH_RADIUS_KM + alt)  # near enough for ±30 km
        s = unit(*orbit.subsolar_point(ts))
        along = r @ s
        across = float(np.linalg.norm(r - along * s))
        lit = readouts.sunlit(sat, ts)
        if along > 0 or across > 6378.137 + 30:
            assert lit, ts
        elif across < 6378.137 - 30:
            assert not lit, ts
        seen.add(lit)
    assert seen == {True, False}


# -- footprint and circles ------------------------------------------------------------------------


def test_footprint_radius_is_where_the_iss_sits_on_the_horizon():
    for alt, elevation in ((420.0, 0.0), (420.0, 10.0), (370.0, 30.0)):
        radius = readouts.footprint_radius_km(alt, elevation)
        angle = radius / EARTH_RADIUS_KM  # central angle between the place and the sub-point
        place = np.array([EARTH_RADIUS_KM, 0.0, 0.0])
        iss = (EARTH_RADIUS_KM + alt) * np.array([math.cos(angle), math.sin(angle), 0.0])
        look = iss - place
        seen_at = math.degrees(math.asin(look @ place / np.linalg.norm(look) / EARTH_RADIUS_KM))
        assert seen_at == pytest.approx(elevation, abs=1e-6)
    assert readouts.footprint_radius_km(420.0) == pytest.approx(2252.4, abs=0.1)
    assert readouts.footprint_radius_km(0.0) == 0.0


def test_circle_points_are_at_the_radius_and_cut_at_the_antimeridian():
    xs, ys = readouts.circle_xy(10.0, 175.0, 2200.0)
    assert len(xs) == 3  # from 175° east to the edge, the part across it, back from the edge
    assert xs[0][-1] == 180.0 and xs[1][0] == -180.0 and xs[1][-1] == -180.0
    assert xs[2][0] == 180.0
    for seg_x, seg_y in zip(xs, ys, strict=True):
        assert all(abs(b - a) < 180 for a, b in itertools.pairwise(seg_x))
        for x, y in zip(seg_x, seg_y, strict=True):
            assert great_circle_km(10.0, 175.0, y, x) == pytest.approx(2200.0, abs=0.5)
    assert ys[0][-1] == ys[1][0] and ys[1][-1] == ys[2][0]  # the pieces meet on the edge


def test_a_circle_away_from_the_antimeridian_is_one_closed_line():
    xs, ys = readouts.footprint_xy(52.52, 13.40, 420.0)
    assert len(xs) == 1
    assert (xs[0][0], ys[0][0]) == pytest.approx((xs[0][-1], ys[0][-1]))
    radius = readouts.footprint_radius_km(420.0)
    assert max(ys[0]) == pytest.approx(52.52 + math.degrees(radius / EARTH_RADIUS_KM))


def test_a_circle_around_the_pole_stays_a_line_across_the_map():
    xs, ys = readouts.circle_xy(80.0, 0.0, 2200.0)
    assert all(len(x) >= 2 and len(set(x)) >= 2 for x in xs)
    assert min(min(x) for x in xs) == -180.0 and max(max(x) for x in xs) == 180.0
    assert min(min(y) for y in ys) == pytest.approx(80.0 - 2200.0 / EARTH_RADIUS_KM * 180 / math.pi)


def test_the_visibility_circle_of_a_place_has_the_footprints_radius():
    place = readouts.visibility_circle_xy(52.52, 13.40, 420.0)
    footprint = readouts.footprint_xy(52.52, 13.40, 420.0)
    assert place == footprint
    higher = readouts.visibility_circle_xy(52.52, 13.40, 420.0, min_elevation_deg=10.0)
    assert max(higher[1][0]) < max(place[1][0])


# -- what it is over ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon", "kind", "name"),
    [
        (52.52, 13.40, "land", "Germany"),
        (40.0, -100.0, "land", "United States of America"),
        (-25.0, 134.0, "land", "Australia"),
        (35.7, 139.7, "land", "Japan"),
        (-15.8, -47.9, "land", "Brazil"),
        (72.0, -40.0, "land", "Greenland"),
        (-80.0, 0.0, "land", "Antarctica"),
        (0.0, -30.0, "water", "Atlantic Ocean"),
        (30.0, -40.0, "water", "Atlantic Ocean"),
        (-30.0, -10.0, "water", "Atlantic Ocean"),
        (25.0, -90.0, "water", "Atlantic Ocean"),  # the Gulf of Mexico
        (15.0, -75.0, "water", "Atlantic Ocean"),  # the Caribbean
        (0.0, -150.0, "water", "Pacific Ocean"),
        (30.0, 150.0, "water", "Pacific Ocean"),
        (-40.0, -100.0, "water", "Pacific Ocean"),
        (13.0, -92.0, "water", "Pacific Ocean"),  # off Guatemala
        (50.0, -135.0, "water", "Pacific Ocean"),
        (-40.0, 179.9, "water", "Pacific Ocean"),
        (-20.0, 80.0, "water", "Indian Ocean"),
        (15.0, 88.0, "water", "Indian Ocean"),  # the Bay of Bengal
        (-62.0, -50.0, "water", "Southern Ocean"),
        (85.0, 0.0, "water", "Arctic Ocean"),
        (35.0, 18.0, "water", "Mediterranean Sea"),
        (43.0, 34.0, "water", "Black Sea"),
        (42.0, 51.0, "water", "Caspian Sea"),
    ],
)
def test_over_names_the_country_or_the_water(lat, lon, kind, name):
    assert places.over(lat, lon) == places.Over(kind, name)
    assert str(places.over(lat, lon)) == name


def test_over_along_a_days_ground_track():
    """The ISS flies mostly over water; every point gets a name."""
    found = [places.over(*orbit.subpoint(TLE.satellite, ts)[:2]) for ts in MINUTES]
    assert all(o.name and o.kind in ("land", "water") for o in found)
    water = sum(o.kind == "water" for o in found) / len(found)
    assert 0.55 < water < 0.85
    assert len({o.name for o in found}) > 10


def test_readout_at_one_moment():
    when = datetime.fromtimestamp(T0, UTC)
    r = readouts.readout(TLE, when)
    lat, lon, alt = orbit.subpoint(TLE.satellite, T0)
    assert (r.lat, r.lon) == pytest.approx((lat, lon), abs=0.02)
    assert r.altitude_km == pytest.approx(alt, abs=0.5)
    assert r.footprint_radius_km == readouts.footprint_radius_km(r.altitude_km)
    assert r.ground_speed_kmh == readouts.ground_speed_kmh(TLE, when)
    assert r.sunlit == readouts.sunlit(TLE, when + timedelta(0))
    assert r.over == places.over(r.lat, r.lon)
    with pytest.raises(ValueError, match="time zone"):
        readouts.readout(TLE, datetime(2026, 9, 18))
