"""The next orbit's vectorised SGP4 (``orbit.subpoints``) against the point-at-a-time one."""

from __future__ import annotations

import numpy as np

from isspanel.geo import orbit
from tests.tle_helpers import REFERENCE

T0 = REFERENCE.epoch.timestamp() + 86400


def test_ground_track_is_subpoint_at_every_step():
    sat = REFERENCE.satellite
    track = orbit.ground_track(sat, T0, minutes=93, step_s=30)
    assert len(track) == 187
    for ts, lat, lon in track:
        want_lat, want_lon, _ = orbit.subpoint(sat, ts)
        assert abs(lat - want_lat) < 1e-9
        assert abs(lon - want_lon) < 1e-9
    assert [p[0] for p in track] == [T0 + 30 * i for i in range(187)]


def test_subpoints_altitudes_agree():
    sat = REFERENCE.satellite
    ts = T0 + np.arange(0, 6000, 600.0)
    _, _, alt = orbit.subpoints(sat, ts)
    assert np.allclose(alt, [orbit.subpoint(sat, t)[2] for t in ts], atol=1e-9)
