"""What the map draws beside the positions, made once on the server and shared by every page:
next orbit, night side and land, in Web Mercator, as read-only arrays (no Bokeh here)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from isspanel.geo.mercator import project
from isspanel.geo.orbit import split_antimeridian


def _shared(values: list[float]) -> np.ndarray:
    """A read-only float array: every session shows the same one."""
    array = np.array(values, dtype=float)
    array.flags.writeable = False
    return array


def _line(parts_x: list[list[float]], parts_y: list[list[float]]) -> dict:
    """Parts as one line with a NaN between them (Bokeh breaks a line there). Two arrays:
    Bokeh sends each as one binary buffer, where lists of lists go as a JSON number per
    float (~3.5x the encoding, per session, for the next orbit and the night side)."""
    xs: list[float] = []
    ys: list[float] = []
    for part_x, part_y in zip(parts_x, parts_y, strict=True):
        if xs:
            xs.append(math.nan)
            ys.append(math.nan)
        xs.extend(part_x)
        ys.extend(part_y)
    return {"x": _shared(xs), "y": _shared(ys)}


def track_data(lons: list[float], lats: list[float]) -> dict:
    """A line source, broken wherever the track crosses the antimeridian."""
    return _line(*project(*split_antimeridian(lons, lats)))


def predicted_data(track: Sequence[tuple[float, float, float]]) -> dict:
    return track_data([p[2] for p in track], [p[1] for p in track])


def night_data(night: tuple[list[float], list[float]]) -> dict:
    """A patch source: the night side is one polygon."""
    return _line(*project([night[0]], [night[1]]))


@functools.cache
def _land_arrays() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The land rings in Web Mercator, projected once per process and never changed."""
    try:
        from isspanel.geo.land import load_land_xy
    except ImportError:  # the land module is optional at import time
        return (), ()
    try:
        lons, lats = load_land_xy()
    except (OSError, ValueError):
        return (), ()
    mx, my = project(lons, lats)
    return tuple(map(_shared, mx)), tuple(map(_shared, my))  # shared by every session


def land_data() -> dict:
    """A session's land source: its own lists of the shared, read-only ring arrays (Bokeh
    keeps arrays as they are), so a session costs 287 references, not 16,814 floats."""
    xs, ys = _land_arrays()
    return {"xs": list(xs), "ys": list(ys)}
