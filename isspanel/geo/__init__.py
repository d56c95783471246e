"""Geometry of the ISS and the Earth: orbit, sun, land and passes over a place.

The names below load lazily (skyfield takes a moment to import), so ``isspanel`` commands
that don't need them start fast::

    from isspanel.geo import next_passes, readout, over
"""

from __future__ import annotations

from isspanel.lazy import lazy_names

_NAMES = {
    "Pass": "passes",
    "next_passes": "passes",
    "compass": "passes",
    "Readout": "readouts",
    "readout": "readouts",
    "altitude_km": "readouts",
    "ground_speed_kmh": "readouts",
    "sunlit": "readouts",
    "footprint_radius_km": "readouts",
    "footprint_xy": "readouts",
    "visibility_circle_xy": "readouts",
    "circle_xy": "readouts",
    "Over": "places",
    "over": "places",
    "subsolar_point": "sun",
    "sun_altitude_deg": "sun",
}

__all__ = sorted(_NAMES)

__getattr__ = lazy_names(__name__, _NAMES)
