"""The map's shared shapes: the next orbit and the night side, as every session sends them."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from bokeh.core.serialization import Serializer
from bokeh.models import ColumnDataSource

from isspanel.broker.history import History
from isspanel.dashboard.history import build_moment
from isspanel.dashboard.map_data import night_data, predicted_data
from isspanel.dashboard.snapshot import Snapshot
from isspanel.dashboard.streams import STREAMS
from isspanel.dashboard.world_map import WorldMap
from isspanel.geo.mercator import R_MERCATOR, mercator
from isspanel.geo.orbit import night_polygon
from isspanel.settings import Settings

# A next orbit that crosses the antimeridian once: east to 179°, then on from -179°.
ORBIT = [(0.0, 10.0, 170.0), (30.0, 11.0, 175.0), (60.0, 12.0, 179.0), (90.0, 13.0, -179.0),
         (120.0, 14.0, -175.0)]  # fmt: skip


def test_the_next_orbit_is_one_line_broken_at_the_antimeridian():
    data = predicted_data(ORBIT)
    x, y = data["x"], data["y"]
    assert len(x) == len(y) == len(ORBIT) + 1  # one NaN between the two parts
    assert np.isnan(x[3]) and np.isnan(y[3])
    assert (x[0], y[0]) == pytest.approx(mercator(170.0, 10.0))
    assert (x[4], y[4]) == pytest.approx(mercator(-179.0, 13.0))
    assert x[2] == pytest.approx(math.radians(179.0) * R_MERCATOR)


def test_the_night_side_is_one_polygon_without_breaks():
    data = night_data(night_polygon(1_790_000_000.0))
    assert len(data["x"]) == len(data["y"]) > 100
    assert not np.isnan(data["x"]).any() and not np.isnan(data["y"]).any()


@pytest.mark.parametrize("data", [predicted_data(ORBIT), night_data(night_polygon(0.0))])
def test_shared_shapes_are_read_only_arrays_that_bokeh_sends_as_buffers(data):
    """Every session shows the same arrays, so none may change them; and Bokeh sends an array
    as one binary buffer, not as a JSON number per float (this fails if Bokeh stops)."""
    for array in data.values():
        assert isinstance(array, np.ndarray) and not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 0.0
    serializer = Serializer(deferred=True)
    serializer.encode(data)
    assert len(serializer.buffers) == 2


def test_every_empty_orbit_and_night_has_the_columns_the_map_draws():
    """A moment with no positions (time travel) shows an empty orbit, not a missing column."""
    world = WorldMap(ColumnDataSource({"x": [], "y": []}), ColumnDataSource())
    drawn = set(world.predicted.data)
    assert drawn == set(world.night.data) == {"x", "y"}
    at = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    reads = {s.name: History(s.name, at) for s in STREAMS}
    empty = build_moment(Settings.from_env(), at, False, reads, 0, time.monotonic()).snapshot
    assert set(empty.predicted) == set(empty.night) == drawn
    assert set(Snapshot().predicted) == set(Snapshot().night) == drawn
