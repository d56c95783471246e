"""Geometry of the ISS and the Earth: orbit, sun, land and passes over a place.

The names below load lazily (skyfield takes a moment to import), so ``isspanel`` commands
that don't need them start fast::

    from isspanel.geo import next_passes, readout, over
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'isspanel.geo' has no attribute {name!r}")
    return getattr(importlib.import_module(f"isspanel.geo.{_NAMES[name]}"), name)
