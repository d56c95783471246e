"""Web Mercator and its inverse, together in one module: what the map draws and what a click
on it means."""

from __future__ import annotations

import math

import pytest

from isspanel.geo.mercator import HALF_WIDTH, MAX_LAT, R_MERCATOR, lat_lon, mercator, project


def test_a_map_point_goes_back_to_latitude_and_longitude():
    for lat, lon in ((52.52, 13.40), (-33.87, 151.21), (0.0, -179.9), (80.0, 45.0)):
        assert lat_lon(*mercator(lon, lat)) == pytest.approx((lat, lon))
    # Panned past the antimeridian: the longitude wraps.
    x, y = mercator(170.0, 10.0)
    assert lat_lon(x + mercator(20.0, 0.0)[0], y) == pytest.approx((10.0, -170.0))


def test_the_map_is_square_and_the_poles_are_clamped_to_its_edge():
    assert mercator(180.0, 0.0)[0] == pytest.approx(HALF_WIDTH) == math.pi * R_MERCATOR
    assert mercator(0.0, 90.0)[1] == mercator(0.0, MAX_LAT)[1] == pytest.approx(HALF_WIDTH, 1e-4)
    assert mercator(0.0, -90.0)[1] == pytest.approx(-HALF_WIDTH, 1e-4)


def test_parts_are_projected_point_by_point():
    xs, ys = project([[0.0, 90.0], [-45.0]], [[0.0, 10.0], [20.0]])
    assert (xs[0][1], ys[0][1]) == mercator(90.0, 10.0)
    assert (xs[1][0], ys[1][0]) == mercator(-45.0, 20.0)
