"""The readouts in the hub's positions rows: made once per record for every session, and right.

The hub computes them with SGP4 and the project's own sun model (isspanel.geo.quick); the
reference here is isspanel.geo.readout (skyfield, DE421). Records go through a real broker.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from functools import partial

import numpy as np
import pytest
from tornado.ioloop import IOLoop

import isspanel.dashboard.sky_state as sky_module
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.streams import POSITION_COLUMNS, READOUT_COLUMNS
from isspanel.geo import orbit, places, quick, readouts
from isspanel.record import IssRecord
from isspanel.sources import tle
from isspanel.sources.sgp4_model import Sgp4Source
from tests.browser import wait_until
from tests.conftest import produce_raw
from tests.tle_helpers import REFERENCE, write_tle

COLUMN = {name: POSITION_COLUMNS.index(name) for name in POSITION_COLUMNS}
SESSIONS = 5


@pytest.fixture
def session_loops():
    """Event loops on threads of their own, as the sessions of a server have."""
    loops, threads = [], []
    for _ in range(2):
        ready = threading.Event()

        def run(ready=ready) -> None:
            asyncio.set_event_loop(asyncio.new_event_loop())
            loops.append(IOLoop.current())
            ready.set()
            IOLoop.current().start()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait(5)
        threads.append(thread)
    yield loops
    for loop in loops:
        loop.add_callback(loop.stop)
    for thread in threads:
        thread.join(5)


def shadow_edge_km(lat: float, lon: float, alt: float, ts: float) -> float:
    """How far the point is from the edge of a cylindrical shadow (own sun model)."""
    r = np.array(quick._ecef_km(lat, lon, alt))
    p, lam = (math.radians(v) for v in orbit.subsolar_point(ts))
    s = np.array([math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)])
    across = float(np.linalg.norm(r - (r @ s) * s))
    return abs(across - quick.SHADOW_RADIUS_KM)


def test_readouts_are_made_once_per_record_for_all_sessions_and_agree_with_skyfield(
    topic_factory, hub_factory, session_loops, monkeypatch, tmp_path
):
    calls = []
    real = sky_module.quick_readout

    def counted(*args):
        calls.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(sky_module, "quick_readout", counted)
    # A TLE with a fixed epoch, the records a day after it: whether some are in the Earth's
    # shadow depends on nothing else. Not now: for days at a time (early December 2026, early
    # July 2027 for the real ISS) an orbit is in sunlight throughout. Retained for good: the
    # records are older than the default week.
    epoch = REFERENCE.epoch
    settings = topic_factory(
        topics={"retention_ms": -1}, tle={"path": write_tle(tmp_path / "iss.tle")}
    )
    hub = hub_factory(settings)
    seen: list[list[tuple]] = [[] for _ in range(SESSIONS)]
    for i in range(SESSIONS):  # sessions read the shared rows, as page.py does
        context = SessionContext(loop=session_loops[i % len(session_loops)])
        hub.subscribe(
            partial(context.post, lambda i=i: seen[i].append(hub.snapshot().positions.rows[-1:]))
        )
    source = Sgp4Source(settings)
    end = int(epoch.timestamp()) + 86_400
    records = list(source.history(24, step_s=397, end_ts=end))
    produce_raw(settings, settings.topics.location, [r.to_dict() for r in records])
    wait_until(lambda: len(hub.snapshot().positions.rows) == len(records), 20, "every record")
    wait_until(lambda: all(seen), 10, "every session woken")
    assert len(calls) == len(records)  # once per record, however many sessions
    assert set(calls) == {"isspanel-hub"}  # on the consumer thread, never a session's
    in_use = tle.current_tle(settings)
    sunlit = set()
    for row in hub.snapshot().positions.rows:
        ts, lat, lon = row[COLUMN["ts"]], row[COLUMN["lat"]], row[COLUMN["lon"]]
        truth = readouts.readout(in_use, ts)
        alt = row[COLUMN["alt_km"]]
        assert alt == pytest.approx(truth.altitude_km, abs=0.01)
        # Shown to the km/h; the two sub-point models differ by ~0.15 km/h at most.
        assert row[COLUMN["speed_kmh"]] == pytest.approx(truth.ground_speed_kmh, abs=0.5)
        assert row[COLUMN["footprint_km"]] == pytest.approx(truth.footprint_radius_km, abs=0.1)
        assert row[COLUMN["over"]] == places.over(lat, lon).name
        if row[COLUMN["sunlit"]] != truth.sunlit:  # only where the shadow's edge is in doubt
            assert shadow_edge_km(truth.lat, truth.lon, truth.altitude_km, ts) < 30
        sunlit.add(row[COLUMN["sunlit"]])
    assert sunlit == {True, False}  # 24 moments over 2.6 h: both states occur


def test_without_a_tle_the_readouts_are_none_but_what_it_is_over_is_known(
    topic_factory, hub_factory, tmp_path
):
    settings = topic_factory().replace(tle={"path": tmp_path / "none.tle"}, home=tmp_path)
    hub = hub_factory(settings)
    assert hub.tle is None
    produce_raw(
        settings,
        settings.topics.location,
        [IssRecord(int(time.time()), 52.52, 13.4, "sgp4").to_dict()],
    )
    wait_until(lambda: hub.snapshot().positions.rows, 20, "the record")
    row = hub.snapshot().positions.rows[-1]
    cells = dict(zip(READOUT_COLUMNS, row[-len(READOUT_COLUMNS) :], strict=True))
    assert cells == {
        "alt_km": None,
        "speed_kmh": None,
        "sunlit": None,
        "over": "Germany",
        "footprint_km": None,
    }


def test_a_moment_over_a_year_from_the_tles_epoch_has_no_tle_readouts():
    sat_tle = REFERENCE
    epoch = sat_tle.epoch.timestamp()
    far = quick.quick_readout(sat_tle.satellite, epoch, epoch + 400 * 86400, 0.0, -30.0)
    assert (far.altitude_km, far.sunlit, far.footprint_radius_km) == (None, None, None)
    assert far.over == places.Over("water", "Atlantic Ocean")
    near = quick.quick_readout(sat_tle.satellite, epoch, epoch + 86400, 0.0, -30.0)
    assert 370 < near.altitude_km < 460 and 24_000 < near.ground_speed_kmh < 27_000
